# The records a loaded model keeps: tensors, constants' places in the file,
# layers. Kept apart from reader.py so that the reader's code can be freed
# once a model is loaded.

# dtype codes of the format -> (array typecode, item size)
DTYPES = (("b", 1), ("B", 1), ("h", 2), ("i", 4), ("f", 4))


class MoteError(ValueError):
    pass


class Tensor:
    __slots__ = ("shape", "dtype", "scale", "zp", "off", "n")

    def __init__(self, shape, dtype, scale, zp, off):
        self.shape = shape
        self.dtype = dtype
        self.scale = scale
        self.zp = zp
        self.off = off
        n = 1
        for d in shape:
            n *= d
        self.n = n


class Const:
    """Where one constant array of a layer is stored (decoded on demand)."""
    __slots__ = ("codec", "dtype", "shape", "pos", "size", "n")

    def __init__(self, codec, dtype, shape, pos, size):
        self.codec = codec
        self.dtype = dtype
        self.shape = shape
        self.pos = pos     # payload offset in the file
        self.size = size   # payload bytes
        n = 1
        for d in shape:
            n *= d
        self.n = n

    def nbytes(self):
        return self.n * DTYPES[self.dtype][1]


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
