"""`python -m motes.cli ...`: the `motes` command without its console script."""
import sys

from .main import main

sys.exit(main())
