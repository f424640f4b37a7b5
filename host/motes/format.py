"""The .mote format's old home, kept so that `from motes.format import ...` goes on
working (examples, tests, users' scripts): everything is in the motes.mote package now."""
from .compiler.interleave import OPS as INTERLEAVED_OPS  # noqa: F401
from .mote import *  # noqa: F401,F403
from .mote import __all__  # noqa: F401
from .mote.tables import const_header as _const_header  # noqa: F401
from .mote.tables import const_names as _const_names  # noqa: F401
from .mote.tables import encode_graph as _encode_graph  # noqa: F401
from .mote.tables import param_names as _param_names  # noqa: F401

if __name__ == "__main__":  # python -m motes.format docs/FORMAT.md device/motes/optable.py
    import sys

    from .mote.gen import refresh_op_table
    print("updated" if refresh_op_table(*sys.argv[1:3]) else "up to date")
