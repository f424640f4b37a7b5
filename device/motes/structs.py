# The records a loaded model keeps: tensors, constants' places in the file,
# layers. Kept apart from reader.py so that the reader's code can be freed
# once a model is loaded.

# dtype codes of the format -> (array typecode, item size)
DTYPES = (("b", 1), ("B", 1), ("h", 2), ("i", 4), ("f", 4))


class MoteError(ValueError):
    pass


# Tensors and constants are namedtuples: on MicroPython a class instance
# carries an attribute map (~150 bytes each on a 64-bit port, even with
# __slots__), a tuple only its items; a model has hundreds of them.
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


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def nbytes(c):
    """Decoded size of a Const in bytes."""
    return c.n * DTYPES[c.dtype][1]


class Layer:
    # p: params in file order; refs: per constant slot (op table order) a Const
    # or None; consts: the decoded arrays in resident mode, else None
    __slots__ = ("op", "ins", "outs", "p", "refs", "consts")

    def __init__(self, op, ins, outs):
        self.op = op
        self.ins = ins
        self.outs = outs
        self.p = []
        self.refs = None
        self.consts = None
