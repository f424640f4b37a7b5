# Loading a .mote file on the board (docs/FORMAT.md): header and CRC, the
# section table, then tensors, graph and the place of each layer's constants,
# parsed straight from the stream into the flat arrays of net.py; in resident
# mode the constants are decoded too. Only needed while loading: motes.load()
# drops this module afterwards.
#
# RAM: the file is read 64 bytes at a time (a model much larger than RAM
# opens), and parsed twice: the first pass only counts, so that every array is
# allocated once at its exact size. The blocks that stay (the arena, the chunk
# buffer, the graph arrays, the code of the kernels and decoders the model
# uses) are made right after a collection, before anything temporary: they sit
# side by side and the free memory stays in one piece.
from micropython import const
import gc
from array import array

from .structs import DTYPES, MoteError, forget
from .optable import spec
from . import kernels, decode

try:
    from binascii import crc32
except ImportError:  # some CircuitPython builds: slower pure-Python CRC-32
    crc32 = None

_HEADER_SIZE = const(16)
_MAJOR = const(1)
_SEC_META = const(1)
_SEC_TENSORS = const(2)
_SEC_GRAPH = const(3)
_SEC_LAYER = const(4)
_MARGIN = const(8192)     # free RAM to keep when choosing resident mode
_READ_BUF = const(512)    # streaming: file read buffer and decoder state
_TABLES = const(2048)     # streaming: Huffman decoding tables of one array


def fail(*a):
    # a check failed: verify.py has the messages (their text would cost RAM
    # here, at the peak of loading; the name is verify's: one qstr less)
    from .verify import fail
    fail(a)


def _crc32_py(data, value=0):
    crc = ~value & 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
    return ~crc & 0xFFFFFFFF


def check_file(f, what, chunk=512):
    """Check magic, version, size and CRC; return the file size. Reads the file once."""
    f.seek(0)
    head = f.read(_HEADER_SIZE)
    if len(head) < _HEADER_SIZE or head[:4] != b"MOTE":
        raise MoteError("%s: not a .mote file (make one with 'motes convert')" % what)
    # magic, version major and minor, flags (u16), file size and CRC-32 (u32, little-endian)
    major, minor = head[4], head[5]
    size = int.from_bytes(head[8:12], "little")
    crc = int.from_bytes(head[12:16], "little")
    if major != _MAJOR:
        raise MoteError("%s: format version %d.%d; this runtime reads %d.x: update the motes "
                        "runtime on the board, or convert with a matching motes" % (what, major, minor, _MAJOR))
    if head[6] or head[7]:
        # bytes 6-7 are outside the CRC: reserved, 0
        fail(0, what, head[6] | head[7] << 8)
    calc = 0
    total = _HEADER_SIZE
    buf = bytearray(chunk)
    mv = memoryview(buf)
    fn = crc32 or _crc32_py
    while True:
        n = f.readinto(buf)
        if not n:
            break
        calc = fn(buf if n == chunk else mv[:n], calc)
        total += n
    if total != size:
        raise MoteError("%s: %d bytes but the header says %d: the file is truncated (copy it again)"
                        % (what, total, size))
    if calc & 0xFFFFFFFF != crc:
        raise MoteError("%s: CRC mismatch: the file is damaged (copy it again)" % what)
    return size, minor


class Src:
    """Bounds-checked reader of a file range, 64 bytes at a time into buf."""

    def __init__(self, f, buf, what):
        self.f = f
        self.buf = buf
        self.what = what
        self.at(0, 0)

    def at(self, pos, length):
        self.pos = pos             # file position of the next byte to load
        self.end = pos + length
        self.i = self.n = 0        # read position and fill of buf

    def tell(self):
        return self.pos - self.n + self.i

    def u8(self):
        i = self.i
        if i == self.n:
            n = self.end - self.pos
            if n > 0:
                f = self.f
                f.seek(self.pos)
                n = min(n, f.readinto(self.buf) or 0)
            if n <= 0:
                raise MoteError(self.what + ": truncated")
            self.pos += n
            self.n = n
            i = 0
        self.i = i + 1
        return self.buf[i]

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

    def count(self):
        # a count of items of at least one byte each: at most the bytes left
        n = self.uv()
        if n > self.end - self.tell():
            fail(1, self.what, n, self.end - self.tell())
        return n

    def sv(self):
        # (every svarint goes into an array('i'): int32)
        u = self.uv()
        if u >> 32:
            fail(11, self.what, (u >> 1) ^ -(u & 1))
        return (u >> 1) ^ -(u & 1)

    def f32(self):
        return array("f", bytes(self.u8() for _ in range(4)))[0]    # little-endian, as every board

    def id(self, count):
        t = self.uv()
        if t >= count:
            raise MoteError(self.what + ": tensor id %d out of range" % t)
        return t


class Out:
    """An array filled item by item; in the counting pass it only counts (data
    is None) or grows (data is a list)."""

    def __init__(self, data=None):
        self.data = data
        self.n = 0

    def put(self, v):
        a = self.data
        if a is not None:
            if self.n < len(a):
                a[self.n] = v
            else:
                a.append(v)
        self.n += 1

    def set(self, index, v):
        if self.data is not None:
            self.data[index] = v


def _sections(c, size, what):
    # {kind: (pos, length)} of meta, tensors and graph; the layer sections in
    # order. The table must tile the file exactly: no bytes after the last
    # section, no length past the end (docs/FORMAT.md, Verification)
    c.what = what + ": section table"
    c.at(_HEADER_SIZE, size - _HEADER_SIZE)
    table = [(c.u8(), c.uv()) for _ in range(c.count())]
    pos = c.tell()
    secs = {}
    layers = []
    for kind, length in table:
        if kind == _SEC_LAYER:
            layers.append((pos, length))
        elif kind in (_SEC_META, _SEC_TENSORS, _SEC_GRAPH):
            if kind in secs or (kind == _SEC_GRAPH and _SEC_TENSORS not in secs):
                fail(2, what, kind)
            secs[kind] = (pos, length)
        pos += length
    if pos != size:
        fail(3, what, pos, size)
    if _SEC_TENSORS not in secs or _SEC_GRAPH not in secs:
        raise MoteError(what + ": no tensor table or graph")
    return secs, layers


def _shape(c, rank, out, dims=None):
    # a shape into the Out of shapes (rank, dims), shared with an equal one
    # already there (the bias, multiplier and shift of a layer are all [C]);
    # returns where it starts, its element count and its first dim (0 for
    # rank < 2: not a matrix streamed by rows)
    if dims is None:
        dims = tuple(c.uv() for _ in range(rank))
    n = 1
    for d in dims:
        n *= d
        if d >> 31:
            n = d
    if n >> 31:
        fail(4, c.what, list(dims))
    d0 = dims[0] if rank > 1 else 0
    s = out.data
    k = 0
    while k < out.n:
        if s[k] == rank and tuple(s[k + 1:k + 1 + rank]) == dims:
            return k, n, d0
        k += 1 + s[k]
    out.put(rank)
    for d in dims:
        out.put(d)
    return k, n, d0


def _parse(c, what, secs, layer_secs, chunk, out, ops=None, codecs=None):
    """One pass over tensors, graph and constant headers into the Outs out (see net.py).

    Returns (arena size, inputs, outputs, bytes of all decoded constants, the
    most one layer needs in streaming mode: the mirror of motes.report on the
    host, and the bytes of the constants other than weight matrices). The counting pass also notes the ops and the (codec, dtype) pairs
    used in the sets ops and codecs.
    """
    T, SC, S, AT, OP, G, C = out
    # an interleaved layer (format 1.2) that breaks the rules of docs/FORMAT.md
    il = "%s: layer %d: bad interleaved layer (format 1.2): convert the model again"
    c.what = "%s (tensor table)" % what
    c.at(*secs[_SEC_TENSORS])
    nt = c.count()
    last = _ints(nt)          # each tensor's last dim (-1: 0-d), for implied shapes
    for i in range(nt):
        # (what the arrays cannot hold is checked here; verify.py checks the rest)
        kind = c.u8()
        at, n, _ = _shape(c, kind & 15, S)
        last[i] = S.data[at + S.data[at]] if S.data[at] else -1
        SC.put(c.f32())
        T.put(kind >> 4)        # dtype
        T.put(c.sv())          # zero point
        off = c.uv()
        if not n or off + n > 0x7FFFFFFF:
            fail(7, what, i, n, off, 0x7FFFFFFF)
        T.put(off)              # arena offset
        T.put(n)
        T.put(at)
    if c.tell() != c.end:
        fail(8, c.what, c.end - c.tell())
    c.what = "%s (graph section)" % what
    c.at(*secs[_SEC_GRAPH])
    arena = c.uv()
    if arena > 0x7FFFFFFF:
        fail(9, what, arena, 0x7FFFFFFF)
    inputs = tuple(c.id(nt) for _ in range(c.count()))
    outputs = tuple(c.id(nt) for _ in range(c.count()))
    if not inputs or not outputs:
        fail(10, what)
    nl = c.count()
    # per layer with constants: where its slots start in G, slot count, mask |
    # input channels << 4, channels, op | layer index << 7
    with_consts = _ints(5 * nl)
    w = 0
    # a chained layer (format 1.1) reads the first output of the layer before
    # and writes the tensor after the largest id seen so far
    prev = inputs[0] if inputs else None
    top = max(inputs) if inputs else -1
    for i in range(nl):
        op = c.u8()
        chained = op & 0x80
        op &= 0x7F
        # bit 6 (format 1.2): interleaved weights; the layer keeps it in its op
        # id (64: FULLY_CONNECTED, 65: CONV_2D), so kernels.get finds its
        # kernels; the other rules of format 1.2 are checked below
        if op > 65:
            raise MoteError(il % (what, i))
        sp = spec(op & 63)
        if sp is None:
            raise MoteError("%s: layer %d: op %d is unknown to this runtime: update motes on the board"
                            % (what, i, op))
        if ops is not None:
            ops.add(op)
        letters, n_consts = sp
        AT.put(G.n)
        OP.put(op)
        if chained:
            if prev is None or top + 1 >= nt:
                raise MoteError("%s: layer %d is chained to no tensor" % (c.what, i))
            for t in (1, prev, 1, top + 1):
                G.put(t)
            first = top = top + 1
        else:
            first = None
            for k in range(2):          # input ids, output ids
                n = c.count()
                G.put(n)
                for _ in range(n):
                    t = c.id(nt)
                    G.put(t)
                    top = max(top, t)
                    if k and first is None:
                        first = t
                    elif not _:         # the first input
                        prev = t
        k = -1 if prev is None else last[prev]   # input channels
        prev = first
        # the param kinds as bytes: indexing a str would make each letter a
        # qstr, kept for good (docs/DEVICE.md, "Names cost RAM too")
        letters = letters.encode()
        lists = 0
        for j in range(len(letters)):
            if letters[j] == 108:       # 'l'
                lists |= 1 << j
        G.put(len(letters))
        G.put(lists)
        for j in range(len(letters)):
            if letters[j] == 108:
                n = c.count()
                G.put(n)
                for _ in range(n):
                    G.put(c.sv())
            else:
                n = c.sv()             # (its range: verify.py)
                G.put(n)
                if op == 64 and lists == -1 and n:    # FULLY_CONNECTED's filter_offset
                    raise MoteError(il % (what, i))
                lists -= 1
        mask = c.u8()
        if mask >> n_consts:
            fail(14, what, i, mask)
        G.put(n_consts)
        # weights required; a bias too in FULLY_CONNECTED (op 64): op << 1 & 3
        # is 0 there, 2 (bias optional) in CONV_2D (op 65)
        if op & 64 and (mask | op << 1) & 3 != 3:
            raise MoteError(il % (what, i))
        if mask:
            for v in (G.n, n_consts, mask | k << 4, -1 if first is None else last[first], op | i << 7):
                with_consts[w] = v
                w += 1
        for _ in range(n_consts):
            G.put(-1)                   # no constant in this slot (filled in below)
    if c.tell() != c.end:
        fail(8, c.what, c.end - c.tell())
    if w // 5 != len(layer_secs):
        raise MoteError("%s: %d layer data sections for %d layers with constants"
                        % (what, len(layer_secs), w // 5))
    # the constants' headers are small: read them, skip the payloads
    c.what = what
    total = small = 0
    most = _READ_BUF
    for j in range(0, w, 5):
        first, n, mask, channels, op = with_consts[j:j + 5]
        k = mask >> 4
        mask &= 15
        i = op >> 7
        op &= 127
        pos, length = layer_secs[j // 5]
        end = pos + length
        need = _READ_BUF
        for slot in range(n):
            if not mask >> slot & 1:
                continue
            c.at(pos, end - pos)
            kind = c.u8()
            codec = kind & 15
            dt = kind >> 4 & 7
            if codec not in decode.DECODERS and codec != 5 and codec != 6:
                raise MoteError("%s: codec %d is unknown to this runtime: update motes on the board"
                                % (what, codec))
            # the derived codecs of format 1.1: filter scales in the multiplier
            # slot (no shift constant), predicted biases (int8 weights present)
            if (codec == 5 and (slot != 2 or mask & 8)) or (codec == 6 and (slot != 1 or not mask & 1)) \
                    or (codec > 4 and (op & 63 > 2 or dt != 3)):
                raise MoteError("%s: layer %d: derived constant (codec %d) in the wrong place"
                                % (what, i, codec))
            if op & 64 and slot < 2 and (dt != 3 * slot or codec == 6):
                raise MoteError(il % (what, i))
            if dt > 4:
                fail(15, what, i, slot, dt)
            if kind & 0x80:             # implied shape [C] (format 1.1)
                if channels < 0:
                    raise MoteError("%s: implied shape [C] on a layer without output channels" % what)
                at, count, rows = _shape(c, 1, S, (channels,))
            else:
                at, count, rows = _shape(c, c.u8(), S)
                if op == 65 and not slot and S.data[at + S.data[at]] != k:
                    raise MoteError(il % (what, i))
            size = c.uv()
            pos = c.tell()
            if pos + size > end:
                fail(17, what, i)
            if not count or (not codec and size != count * DTYPES[dt][1]):
                fail(18, what, i, slot, size, count)
            if codecs is not None:
                codecs.add((codec, dt))
                if codec > 4:           # and the decoder of the payload inside
                    if codec == 6:
                        c.uv()
                    codecs.add((c.u8(), 3))
            G.set(first + slot, C.n // 4)
            for v in (kind & 0x7F, at, pos, size):
                C.put(v)
            b = count * DTYPES[dt][1]
            if codec == 5:              # the shifts: same payload, int8 (derive.py)
                G.set(first + 3, C.n // 4)
                for v in (5, at, pos, size):
                    C.put(v)
                b += count
            pos += size
            total += b
            if slot or op & 63 > 2:     # not a weight matrix: kept in streaming mode too (hold.py)
                small += b
            if slot == 0 and rows > 1:          # weights, streamed by rows
                row = b // rows
                size = max(1, chunk // row)
                if op & 64:                     # interleaved: whole groups of 8 rows
                    size = min(rows, max(8, size & ~7))
                b = size * row
            if codec == 1 or codec == 2:
                b += _TABLES
            need += b
        if pos != end:
            fail(19, what, i, end - pos)
        most = max(most, need)
    return arena, inputs, outputs, total, most, small


def _ints(n):
    # array(tc, range(n)) allocates exactly n items with no temporary copy
    return array("i", range(n))


def _open(net, f, what):
    c = Src(f, bytearray(64), what)
    secs, layer_secs = _sections(c, net.file_bytes, what)
    return c, secs, layer_secs


def scan(net, f, what, mode):
    """Step 1 of loading: check the file, read the meta, count everything.

    Returns the plan for fill(): the counts of the arrays, the op ids and the
    (codec << 4 | dtype) of the constants the model uses (bytes), and the
    message for a MemoryError meanwhile. net.py imports their code in
    between, once this module is gone.
    """
    if mode not in (None, "resident", "streaming"):
        raise ValueError("mode must be 'resident', 'streaming' or None (auto)")
    net.file_bytes, minor = check_file(f, what)
    gc.collect()    # from here on, what is allocated stays close together
    c, secs, layer_secs = _open(net, f, what)
    # the metadata (a JSON object) first: it stays, low in the heap
    net.meta = {}
    if _SEC_META in secs:
        pos, length = secs[_SEC_META]
        f.seek(pos)
        try:
            import json
        except ImportError:
            json = None
        if json:
            try:
                net.meta = json.loads(f.read(length))
            except ValueError:
                net.meta = None
            if not isinstance(net.meta, dict):
                fail(20, what)
    net.labels = net.meta.get("labels")
    net.name = net.meta.get("name", what)
    n = [Out() for _ in range(7)]
    n[2] = Out([])      # shapes: kept, to share equal ones
    ops = set()
    codecs = set()
    size, ins, outs, held, most, net.prepared = _parse(c, what, secs, layer_secs, net.chunk, n, ops, codecs)
    if minor < 2 and (64 in ops or 65 in ops):
        fail(21, what, minor)
    net.arena_size = size
    net.ram_resident = size + held
    net.ram_streaming = size + most
    n = tuple(o.n for o in n)
    c = secs = layer_secs = None
    gc.collect()
    # verify.py: the metadata and the graph as a whole (its code is not in
    # the heap at the peak of loading, in fill(): the reader's is)
    try:
        from . import verify
        verify.check(net, f, what, n, size, ins, outs)
    except MemoryError:
        verify = None
        forget("motes.verify")
        gc.collect()
        raise MemoryError(_short(net, what, mode) % gc.mem_free())
    verify = None
    forget("motes.verify")
    gc.collect()
    return n, bytes(ops), bytes(c << 4 | d for c, d in codecs), _short(net, what, mode)


def _short(net, what, mode):
    # the message of a MemoryError, but for the free bytes (%d)
    return "%s: %s mode needs about %d bytes, %%d are free%s" % (
        what, mode or "streaming", net.ram_resident if mode == "resident" else net.ram_streaming,
        "; try motes.load(..., mode='streaming')" if mode == "resident" else "")


def fill(net, f, what, plan, mode, verbose):
    """Step 2 (after net.py made the arena): allocate the graph arrays and fill them (second pass);
    in resident mode also decode the constants."""
    nt, nsc, ns, nl, _, ng, nc = plan[0]
    try:
        gc.collect()
        # the blocks that stay (net.py made the arena already), side by side
        net._t = _ints(nt)
        net._sc = array("f", range(nsc))
        net._s = _ints(ns)
        net._at = _ints(nl)
        net.ops = bytearray(nl)
        net._g = _ints(ng)
        net._c = _ints(nc)
        net._fns = [None] * nl
        net.mv = memoryview(net.arena)

        c, secs, layer_secs = _open(net, f, what)
        o = [Out(a) for a in (net._t, net._sc, net._s, net._at, net.ops, net._g, net._c)]
        _, ins, outs, _, _, _ = _parse(c, what, secs, layer_secs, net.chunk, o)
        o = c = secs = layer_secs = None
        for i in range(nl):
            net._fns[i] = kernels.get(net.ops[i])
        # the input and output ids stay: copied (a slice is a new tuple) once
        # the pass's garbage is collected, into a small hole low in the heap.
        # Made during the pass (and net.mv after it), they sat among its
        # garbage and split the free memory it left, where the chunk buffer
        # and the native decoders' tables go next, 4 KB each in one piece:
        # the smallest heaps on the M3 were 1-4 KB larger (docs/DEVICE.md)
        gc.collect()
        net.inputs = ins[:]
        net.outputs = outs[:]
        ins = outs = None

        if mode is None:
            gc.collect()
            free = gc.mem_free()
            mode = "resident" if net.ram_resident + _MARGIN < free else "streaming"
            if verbose:
                print("motes: %s mode (resident needs %d bytes, %d free)" % (mode, net.ram_resident, free))
        net.mode = mode
        if mode == "resident":
            from . import hold
            hold.consts(net, f)
    except MemoryError:
        # free all we can: the message below needs a little memory too
        o = c = secs = layer_secs = None
        net.arena = net.mv = net._rowbuf = net._held = net._g = net._c = net._s = net._t = None
        gc.collect()
        raise MemoryError(_short(net, what, mode) % gc.mem_free())
