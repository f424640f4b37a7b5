# The views a kernel gets of a loaded model: tensors, constants' places in the
# file, layers. A loaded Net keeps its graph as a few flat arrays (net.py) and
# makes these small tuples only for the layer that runs.

# dtype codes of the format -> (array typecode, item size)
DTYPES = (("b", 1), ("B", 1), ("h", 2), ("i", 4), ("f", 4))


class MoteError(ValueError):
    pass


# namedtuples: on MicroPython a class instance carries an attribute map, a
# tuple only its items
try:
    from collections import namedtuple
except ImportError:  # a port without collections: plain tuples with names
    def namedtuple(name, fields):
        fields = tuple(fields)

        class T(tuple):
            def __getattr__(self, attr):
                return self[fields.index(attr)]
        return lambda *a: T(a)

# shape (tuple), dtype code, scale, zero point, arena offset, element count
Tensor = namedtuple("Tensor", ("shape", "dtype", "scale", "zp", "off", "n"))
# where one constant array of a layer is: codec, dtype code, shape, payload
# offset in the file, payload bytes, element count
Const = namedtuple("Const", ("codec", "dtype", "shape", "pos", "size", "n"))
# op id, input and output tensor ids, params in file order (docs/FORMAT.md),
# per constant slot a Const or None, and the decoded arrays (resident mode) or None
Layer = namedtuple("Layer", ("op", "ins", "outs", "p", "refs", "consts"))


def nth(s, i, sep):
    """Field i of s split at sep (None past the end, "" if empty), without
    making the other fields: the tables kept as one string use it."""
    start = 0
    for _ in range(i):
        start = s.find(sep, start) + 1
        if not start:
            return None
    end = s.find(sep, start)
    return s[start:] if end < 0 else s[start:end]


def forget(name):
    """Drop a module (e.g. 'motes.reader') so the GC can free its code."""
    import sys
    sys.modules.pop(name, None)
    pkg = sys.modules.get("motes")
    if pkg is not None and name[:6] == "motes." and hasattr(pkg, name[6:]):
        delattr(pkg, name[6:])
