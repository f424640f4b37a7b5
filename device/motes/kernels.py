# Which kernel runs each op: native C module, then viper, then pure Python.
# Every backend gives the same int8 results (bit-exact with TFLM's reference).
# Kernel modules are imported only for the ops a model uses: code costs RAM.

# op id -> module of pure-Python kernels (each module has OPS: op id -> function)
_PY = {
    0: "k_fc",
    1: "k_conv", 2: "k_dwconv",
    3: "k_pool", 4: "k_pool",
    5: "k_shape", 17: "k_shape", 18: "k_shape", 12: "k_shape", 13: "k_shape", 19: "k_shape",
    6: "k_softmax", 7: "k_act", 8: "k_act", 14: "k_act", 15: "k_act", 16: "k_act", 21: "k_act",
    22: "k_act", 23: "k_act",
    9: "k_elem", 10: "k_elem", 20: "k_elem", 11: "k_mean",
}
_VIPER = (0, 1, 2, 3, 4)                 # ops k_viper.py has
_ORDER = ("native", "viper", "python")   # preference, best first
BACKEND = "python"
_viper = None


def _native_available():
    # the C module motes_native (ulab_kernels/): a .mpy on sys.path (built for
    # this board's architecture) or compiled into the firmware
    try:
        import motes_native
    except (ImportError, ValueError, OSError):   # ValueError: .mpy of another arch/version
        return False
    return getattr(motes_native, "API", 0) == 1


def _viper_available():
    try:
        from . import k_viper  # noqa: F401  (SyntaxError/ImportError without viper)
        return True
    except (ImportError, SyntaxError, NameError, MemoryError):
        # MemoryError: compiling k_viper.py from source on a small heap; the
        # pure-Python kernels still work (ship .mpy files to avoid compiling)
        return False


def _module(name):
    return __import__("motes." + name, None, None, ("OPS",))


def get(op):
    """The kernel function for an op id, from the best backend that has it."""
    global _viper
    if BACKEND == "native":
        from . import k_native
        fn = k_native.OPS.get(op)
        if fn:
            return fn
        if op in _VIPER and _viper is None:
            _viper = _viper_available()    # checked once: ops native lacks go to viper
    if op in _VIPER and (BACKEND == "viper" or (BACKEND == "native" and _viper)):
        from . import k_viper
        return k_viper.OPS[op]
    name = _PY.get(op)
    if name is None:
        from .structs import MoteError
        raise MoteError("op %d has no kernel in this runtime: update motes on the board" % op)
    return _module(name).OPS[op]


def use(name):
    """Choose the backend ('native', 'viper' or 'python') for nets loaded from now on."""
    global BACKEND
    if name not in _ORDER:
        raise ValueError("backend must be one of " + ", ".join(_ORDER))
    if name == "native" and not _native_available():
        raise ValueError("native kernels are not available: put motes_native.mpy (built for this "
                         "board's architecture) in /lib or beside motes")
    if name == "viper" and not _viper_available():
        raise ValueError("viper is not available on this port")
    BACKEND = name
    if name == "python":
        # the other backends' code is not needed: let the GC free it
        from .structs import forget
        for m in ("motes.k_viper", "motes.k_native", "motes.dec_native", "motes_native"):
            forget(m)


if _native_available():
    BACKEND = "native"
elif _viper_available():
    BACKEND = "viper"
