# Which kernel runs each op: native C module, then viper, then pure Python.
# Every backend gives the same int8 results (bit-exact with TFLM's reference).
# Kernel modules are imported only for the ops a model uses: code costs RAM.
from micropython import const

from .structs import nth

# op id -> the module of its pure-Python kernels (k_<name>.py, each with OPS:
# op id -> function): the n-th word is op id n's. One string, not a dict: the
# names of modules a model does not use then cost no RAM (qstrs are for good).
_PY = "fc conv dwconv pool pool shape softmax act act elem elem mean shape shape act act act shape shape shape elem act act act"
_VIPER_LAST = const(4)   # k_viper.py has ops 0 .. 4 (and 64, 65)
BACKEND = None      # chosen at the first load or use(): see backend()
_CHOSEN = False     # by use(): then load() never falls back to another backend
_CORE = ("net", "structs", "decode", "kernels")
# ports that put a native module's code in memory of its own, not in the GC
# heap: the unix port (mmap), ESP32 (IRAM)
_CODE_OUTSIDE_HEAP = ("linux", "darwin", "win32", "esp32")
_viper = None


def _py_module(op):
    name = nth(_PY, op, " ")
    return "k_" + name if name else None


def _native_available():
    # the C module motes_native (ulab_kernels/): a .mpy on sys.path (built for
    # this board's architecture) or compiled into the firmware
    try:
        import motes_native
    except (ImportError, ValueError, OSError):   # ValueError: .mpy of another arch/version
        return False
    return getattr(motes_native, "API", 0) == 4


def _viper_available():
    try:
        from . import k_viper  # noqa: F401  (SyntaxError/ImportError without viper)
        return True
    except (ImportError, SyntaxError, NameError, MemoryError, ValueError):
        # MemoryError: compiling k_viper.py from source on a small heap; the
        # pure-Python kernels still work (ship .mpy files to avoid compiling).
        # ValueError: a k_viper.mpy with machine code on firmware without a
        # native emitter ("native code in .mpy unsupported", CircuitPython too)
        return False


def _module(name):
    return __import__("motes." + name, None, None, ("OPS",))


def backend():
    """The backend nets loaded now use: the best available unless use() chose.
    Found on first need, so that `import motes` loads no kernel code; a
    motes_native.mpy found on sys.path is imported only when a model needs it,
    once load() has checked that its code fits beside the model (on a board a
    native module's code goes into the heap)."""
    global BACKEND
    if BACKEND is None:
        BACKEND = "native" if native_cost() or _native_available() else \
            "viper" if _viper_available() else "python"
    return BACKEND


def get(op):
    """The kernel function for an op id, from the best backend that has it.
    An interleaved layer (format 1.2) has op id | 64: 64 FULLY_CONNECTED, 65 CONV_2D."""
    global _viper
    backend()
    if BACKEND == "native" and not _native_available():
        fall_back()     # a .mpy of another arch or version: the next backend
    if BACKEND == "native":
        from . import k_native
        fn = k_native.OPS.get(op)
        if fn:
            return fn
        if op & 63 <= _VIPER_LAST and _viper is None:
            _viper = _viper_available()    # checked once: ops native lacks go to viper
    if op & 63 <= _VIPER_LAST and (BACKEND == "viper" or (BACKEND == "native" and _viper)):
        from . import k_viper
        return k_viper.OPS[op]
    name = _py_module(op & 63)
    if name is None:
        from .structs import MoteError
        raise MoteError("op %d has no kernel in this runtime: update motes on the board" % op)
    return _module(name).OPS[op]


def native_cost():
    """Heap bytes importing the native module takes (about its file's size;
    0 when it is imported already or built into the firmware)."""
    import sys
    if "motes_native" in sys.modules or sys.platform in _CODE_OUTSIDE_HEAP:
        return 0
    from os import stat
    for d in sys.path:
        try:
            return stat((d + "/" if d else "") + "motes_native.mpy")[6]
        except OSError:
            pass
    return 0


def fall_back():
    """A model did not fit with the backend chosen by itself: take the next one
    that uses less RAM (native -> viper -> python), forgetting the code of the
    one before. False when use() chose it, or nothing is left."""
    global BACKEND, _viper
    if _CHOSEN or BACKEND in (None, "python"):
        return False
    import sys
    from .structs import forget
    # every module the failed load imported for its ops and codecs (the next
    # load imports what it needs again): only the core stays
    for m in [m for m in sys.modules if m[:6] == "motes." and m[6:] not in _CORE]:
        forget(m)
    forget("motes_native")
    _viper = None
    BACKEND = "viper" if BACKEND == "native" and _viper_available() else "python"
    if BACKEND == "python":
        forget("motes.k_viper")
    import gc
    gc.collect()
    return True


def use(name):
    """Choose the backend ('native', 'viper' or 'python') for nets loaded from now on."""
    global BACKEND, _CHOSEN
    if name not in ("native", "viper", "python"):
        raise ValueError("backend must be 'native', 'viper' or 'python'")
    if name == "native" and not _native_available():
        raise ValueError("native kernels are not available: put motes_native.mpy (built for this "
                         "board's architecture) in /lib or beside motes")
    if name == "viper" and not _viper_available():
        raise ValueError("viper is not available on this port")
    BACKEND = name
    _CHOSEN = True
    if name == "python":
        # the other backends' code is not needed: let the GC free it
        from .structs import forget
        for m in ("motes.k_viper", "motes.k_native", "motes.dec_native", "motes_native"):
            forget(m)

