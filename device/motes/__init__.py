# motes device runtime: run .mote models on MicroPython and CircuitPython boards.
#
#   import motes
#   net = motes.load("model.mote")       # mode=None picks resident or streaming
#   net.predict([0.1, 0.2, ...])          # floats in, floats out
#   net.classify(x)                       # (label, probability)
#   print(net); net.summary(); net.trace(x)
from .net import load, Net  # noqa: F401
from .structs import MoteError  # noqa: F401
from . import kernels

__version__ = "0.1.0"


def backend():
    """Which kernels run: 'native', 'viper' or 'python'."""
    return kernels.backend()
