# Reading a .mote file on the board: header, CRC, section table, tensors, graph,
# and where each layer's constants sit in the file (docs/FORMAT.md).
# Only needed while loading: motes.load() drops this module afterwards.
#
# Everything here works on a stream with read/seek (a file on flash, io.BytesIO)
# and reads small pieces only, so a model much larger than RAM can be opened.
from micropython import const
import struct

try:
    from binascii import crc32
except ImportError:  # some CircuitPython builds: slower pure-Python CRC-32
    crc32 = None

_HEADER_SIZE = const(16)
_MAJOR = const(1)
SEC_META = const(1)
SEC_TENSORS = const(2)
SEC_GRAPH = const(3)
SEC_LAYER = const(4)
from .structs import DTYPES, MoteError, Tensor, Const, Layer, count


def _crc32_py(data, crc=0):
    crc = ~crc & 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return ~crc & 0xFFFFFFFF


class Cursor:
    """Bounds-checked reader over a bytes-like object (a section already in RAM)."""

    def __init__(self, data, what):
        self.d = data
        self.i = 0
        self.what = what

    def u8(self):
        i = self.i
        if i >= len(self.d):
            raise MoteError(self.what + ": truncated")
        self.i = i + 1
        return self.d[i]

    def uv(self):
        v = 0
        s = 0
        while True:
            b = self.u8()
            v |= (b & 0x7F) << s
            if b < 0x80:
                return v
            s += 7
            if s > 63:
                raise MoteError(self.what + ": bad varint")

    def sv(self):
        u = self.uv()
        return (u >> 1) ^ -(u & 1)

    def f32(self):
        i = self.i
        if i + 4 > len(self.d):
            raise MoteError(self.what + ": truncated")
        self.i = i + 4
        return struct.unpack_from("<f", self.d, i)[0]

    def ids(self, limit):
        n = self.uv()
        out = []
        for _ in range(n):
            t = self.uv()
            if t >= limit:
                raise MoteError(self.what + ": tensor id %d out of range" % t)
            out.append(t)
        return tuple(out)  # a tuple costs less RAM than a list


_shapes = {}


def _share(shape):
    # equal shapes share one tuple: bias, multipliers and shifts are all (C,)
    return _shapes.setdefault(shape, shape)


def check_file(f, what, chunk=512):
    """Check magic, version, size and CRC; return the file size. Reads the file once."""
    f.seek(0)
    head = f.read(_HEADER_SIZE)
    if len(head) < _HEADER_SIZE or head[:4] != b"MOTE":
        raise MoteError("%s: not a .mote file (make one with 'motes convert')" % what)
    magic, major, minor, flags, size, crc = struct.unpack("<4sBBHII", head)
    if major != _MAJOR:
        raise MoteError("%s: format version %d.%d; this runtime reads %d.x: update the motes "
                        "runtime on the board, or convert with a matching motes" % (what, major, minor, _MAJOR))
    calc = 0
    total = _HEADER_SIZE
    buf = bytearray(chunk)
    mv = memoryview(buf)
    fn = crc32 or _crc32_py
    while True:
        n = f.readinto(buf)
        if not n:
            break
        calc = fn(mv[:n], calc)
        total += n
    if total != size:
        raise MoteError("%s: %d bytes but the header says %d: the file is truncated (copy it again)"
                        % (what, total, size))
    if calc & 0xFFFFFFFF != crc:
        raise MoteError("%s: CRC mismatch: the file is damaged (copy it again)" % what)
    return size


def read_structure(f, what, op_table, alloc_arena=None):
    """Parse everything but the constants' payloads.

    Returns (meta_json_bytes, tensors, layers, inputs, outputs, arena_size).
    """
    f.seek(_HEADER_SIZE)
    c = Cursor(f.read(5), what + " section table")
    n = c.uv()
    f.seek(_HEADER_SIZE)
    c = Cursor(f.read(c.i + 6 * n), what + " section table")  # kind + uvarint(<= 5) each
    c.uv()
    table = [(c.u8(), c.uv()) for _ in range(n)]
    pos = _HEADER_SIZE + c.i
    if alloc_arena is not None:
        # the arena is the biggest block: allocate it before the many small
        # objects of the graph, so it does not have to fit between them
        p = pos
        for kind, length in table:
            if kind == SEC_GRAPH:
                f.seek(p)
                alloc_arena(Cursor(f.read(min(length, 10)), what + " graph").uv())
                break
            p += length
    meta = b""
    tensors = None
    graph = None
    layer_sections = []
    for kind, length in table:
        if kind == SEC_LAYER:
            layer_sections.append((pos, length))
        elif kind in (SEC_META, SEC_TENSORS, SEC_GRAPH):
            f.seek(pos)
            data = f.read(length)
            if kind == SEC_META:
                meta = data
            elif kind == SEC_TENSORS:
                tensors = _tensors(Cursor(data, what + " tensors"))
            else:
                if tensors is None:
                    raise MoteError(what + ": graph before tensors")
                graph = _graph(Cursor(data, what + " graph"), len(tensors), op_table)
            data = None
        pos += length
    if tensors is None or graph is None:
        raise MoteError(what + ": no tensor table or graph")
    arena, inputs, outputs, layers = graph
    with_consts = [L for L in layers if any(r is not None for r in L.refs)]
    if len(with_consts) != len(layer_sections):
        raise MoteError("%s: %d layer data sections for %d layers with constants"
                        % (what, len(layer_sections), len(with_consts)))
    for L, (pos, length) in zip(with_consts, layer_sections):
        _layer_refs(f, pos, length, L, what)
    for i, L in enumerate(layers):
        for r in L.refs:
            if r is 0:
                raise MoteError("%s: layer %d misses its constants section" % (what, i))
    _shapes.clear()
    return meta, tensors, layers, inputs, outputs, arena


def _tensors(c):
    out = []
    for _ in range(c.uv()):
        kind = c.u8()
        shape = _share(tuple(c.uv() for _ in range(kind & 15)))
        scale = c.f32()
        zp = c.sv()
        out.append(Tensor(shape, kind >> 4, scale, zp, c.uv(), count(shape)))
    return out


def _graph(c, nt, op_table):
    arena = c.uv()
    inputs = c.ids(nt)
    outputs = c.ids(nt)
    layers = []
    for i in range(c.uv()):
        op = c.u8()
        if op not in op_table:
            raise MoteError("layer %d: op %d is unknown to this runtime: update motes on the board" % (i, op))
        L = Layer(op, c.ids(nt), c.ids(nt))
        spec, n_consts = op_table[op]
        p = []
        for kind in spec:
            p.append(tuple(c.sv() for _ in range(c.uv())) if kind == "l" else c.sv())
        L.p = tuple(p)
        mask = c.u8()
        # 0 marks a constant the file must still provide, None an absent one
        L.refs = [0 if mask >> i & 1 else None for i in range(n_consts)]
        layers.append(L)
    return arena, inputs, outputs, layers


def _layer_refs(f, pos, length, L, what):
    # headers of the constants are small: read them, skip the payloads
    end = pos + length
    p = pos
    for slot in range(len(L.refs)):
        if L.refs[slot] is None:
            continue
        f.seek(p)
        c = Cursor(f.read(min(end - p, 48)), what)
        kind = c.u8()
        codec = kind & 15
        dt = kind >> 4
        if dt >= len(DTYPES):
            raise MoteError("%s: unknown dtype %d" % (what, dt))
        shape = _share(tuple(c.uv() for _ in range(c.u8())))
        size = c.uv()
        p += c.i
        if p + size > end:
            raise MoteError("%s: layer constants overrun their section" % what)
        L.refs[slot] = Const(codec, dt, shape, p, size, count(shape))
        p += size
