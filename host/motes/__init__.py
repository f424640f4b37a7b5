"""motes: tiny machine learning for MicroPython and CircuitPython boards (host tools)."""
from __future__ import annotations

__version__ = "0.1.0"

from .compiler.graph import ModelError  # noqa: E402,F401
