"""The `motes` command (`motes = motes.cli:main`): `main.py` holds the verb table and
the model verbs, `board_verbs.py` the verbs that talk to a board."""
from .main import main  # noqa: F401
