# The model object a user holds at the REPL: load, predict, classify, trace.
#
# Two modes:
#  - resident: every layer's constants are decoded once at load (fastest);
#  - streaming: only the graph stays in RAM; each inference decodes each layer's
#    constants from the open file, the big weight matrices a few rows at a time.
# Activations live in one arena (a bytearray) allocated at load and placed by
# the host's memory plan; inference allocates no arena-sized buffers.
#
# RAM shapes this file. The graph is kept as a few flat arrays, made and
# filled by reader.py (which is freed after loading) and handed over to Net:
#   ops     bytearray, the op id of each layer
#   _at     array('i'), where each layer's record starts in _g
#   _g      array('i'), per layer: n_in, input ids, n_out, output ids,
#           n_params, list mask (bit j: param j is a list), the params (a list
#           param: its length, then its items), n_slots, per constant slot an
#           index into _c or -1
#   _c      array('i'), per constant: codec | dtype << 4, shape, payload
#           position in the file, payload size
#   _t      array('i'), per tensor: dtype, zero point, arena offset, count, shape
#   _sc     array('f'), per tensor: scale
#   _s      array('i'), shapes: rank, then the dims (_c and _t point here;
#           equal shapes are stored once)
# layer(i) and tensor(i) make the structs.Layer / Tensor tuples kernels take,
# only while a layer runs; nothing of the graph is a Python object per layer.
from micropython import const
from array import array
import gc

from .structs import Tensor, Const, Layer, MoteError, forget
from .decode import decode_all, decode_into, RowStream, prepare, new_array
from . import kernels

_CHUNK = const(2048)      # streaming: bytes of decoded weights per chunk (the buffer: what the
                          # model's layers take of it, or a group or row that is more)
_MARGIN = const(6144)     # streaming: free RAM left for an inference beside prepared constants
_NATIVE_ROOM = const(26624)   # RAM a model takes besides its arena and the native module's code:
                              # kernel and decoder modules, graph, buffers (M3 board, streaming)


class Net:
    def __init__(self, f, what, mode=None, chunk=_CHUNK, verbose=True):
        # Over 80 lines, on purpose: net.py's code stays in the heap; steps 5-6 as
        # a method (reserve, no new qstr) cost 192 bytes of it and 1 KB of smallest
        # heap to mlperf_tiny_kws and person_detect (python, streaming, unix port).
        #
        # every field first: the attribute table is then allocated once. No
        # other module makes a field: the reader returns what it read (scan:
        # the file's figures, fill: the graph arrays) and the fields are
        # assigned here; hold.py, derive.py and k_native keep their caches in
        # the fields below that name them (tests/device/test_device_runtime.py)
        self.what = what
        self._f = f
        self.chunk = chunk
        self.probe = None      # a function called after each layer and weight chunk (memory tests)
        # reader.scan's figures
        self.meta = self.labels = self.name = self.mode = self.file_bytes = None
        self.arena = self.mv = self.arena_size = None
        self.ram_resident = self.ram_streaming = None   # bytes each mode needs
        self.prepared = 0      # bytes of the biases, multipliers, shifts made at load (streaming;
                               # hold.py sets it to what it made, 0 if there was no room)
        # reader.fill's record: the graph (top of this file), the arena's memoryview
        self.inputs = self.outputs = None               # tensor ids
        self.ops = self._at = self._g = self._c = self._t = self._sc = self._s = None
        self._fns = None       # the kernel of each layer
        # the caches: made at load or by an inference, by the modules named
        self._rowbuf = None    # streaming: the int8 weight chunk buffer, reused by every layer
        self._held = None      # hold.py: the constant arrays decoded at load, by index in _c
                               # (streaming mode: all but the weight matrices, which stay None)
        self._dv = None        # derive.py (streaming, format 1.1): the multipliers or shifts
        self._dk = -1          # rebuilt with the other slot's array, and which slot
        self._wc = None        # Net.const (streaming): (pos, weights) of a layer whose bias is
                               # predicted, for derive.py; cleared after each layer
        self._rq = None        # k_native: interleaved FULLY_CONNECTED's prepared requantization
                               # tables, a dict by the weights' file position (first use)
        # 0. the arena, the biggest block, before anything else of the model:
        # right above what is already there, whatever was imported before
        # (the native module's code, on a board), and never above a hole
        # left by the reader. Its size is peeked from the graph section; the
        # scan checks the file and the size, and a damaged file frees it again.
        gc.collect()
        n = _arena_bytes(f)
        # The native module's code (about its file's size) goes into a board's
        # heap: imported now, below the arena, when a backend chosen by itself
        # leaves room for the rest; else the next backend (viper, python)
        if kernels.backend() == "native" and not kernels._CHOSEN:
            cost = kernels.native_cost()
            if cost and cost + n + _NATIVE_ROOM > gc.mem_free() or not kernels._native_available():
                kernels.fall_back()
            gc.collect()
        if 0 < n < gc.mem_free():
            try:
                self.arena = bytearray(n)
            except MemoryError:
                pass
        # Loading is two steps of reader.py, whose code comes and goes twice,
        # so that it leaves no hole between the blocks that stay:
        # 1. check the file and count
        from . import reader
        (self.file_bytes, self.meta, self.labels, self.name, self.arena_size, self.ram_resident,
         self.ram_streaming, self.prepared, plan) = reader.scan(chunk, f, what, mode)
        reader = None
        _drop_reader()
        # 2. the arena, if not made above: low in the memory the reader left
        if self.arena is not None and len(self.arena) != self.arena_size:
            self.arena = None
        try:
            if self.arena is None:
                self.arena = bytearray(self.arena_size)
        except MemoryError:
            gc.collect()
            raise MemoryError("%s: the activation arena needs %d bytes in one piece, %d are free in "
                              "all: load the model first thing after boot (before other big "
                              "objects), or use a smaller model" % (what, self.arena_size, gc.mem_free()))
        try:
            # 3. the kernels and decoders of the model's ops and codecs
            for op in plan[1]:
                kernels.get(op)
            for k in plan[2]:
                prepare(k >> 4, k & 15)
            from . import reader
            # 4. the graph arrays, filled by a second pass: the reader hands
            # them over (its record, in the order of the fields) and they are
            # the Net's; in resident mode then every constant decoded (hold.py)
            (self._t, self._sc, self._s, self._at, self.ops, self._g, self._c, self._fns, self.mv,
             self.inputs, self.outputs, self.mode) = reader.fill(self, f, what, plan, mode, verbose)
            if self.mode == "resident":
                from . import hold
                hold.consts(self, f)
        except MemoryError:
            # free all we can: the message below needs a little memory too
            # (step 3, no reader yet: the message scan() prepared; the same
            # but for the mode fill() may have chosen)
            self.arena = self.mv = self._held = self._g = self._c = self._s = self._t = None
            gc.collect()
            raise MemoryError((reader._short(what, self.mode or mode, self.ram_resident, self.ram_streaming)
                               if reader else plan[3]) % gc.mem_free())
        if self.mode == "streaming":
            # 5. the weight chunk buffer, shared by every layer, and the native
            # decoders' code tables, where the reader was
            reader = None
            _drop_reader()
            try:
                for k in plan[2]:
                    prepare(k >> 4, k & 15, 1)
                self._rowbuf = new_array(0, plan[4])
            except MemoryError:
                raise MemoryError(plan[3] % gc.mem_free())
            # 6. the biases, multipliers and shifts, made once where they fit
            # (self.prepared: their bytes, from the scan; 0 if not made); with
            # Huffman or zero-run int8 arrays (16, 32: codec << 4 | int8),
            # hold.py checks the shifts either way (verify.py the other codecs'),
            # so that such a file fails now, not at an inference. (k: a name
            # already here; a new one is a qstr for good and can make its pool grow)
            k = 16 in plan[2] or 32 in plan[2]
            # free RAM an inference needs beside prepared constants (its small
            # objects: layer tuples, parameter arrays, decoder buffers); twice
            # that on a 64-bit port (the unix port), whose objects are about
            # twice the size
            import sys
            m = _MARGIN * 2 if sys.maxsize > 1 << 32 else _MARGIN
            if self.prepared + m >= gc.mem_free():
                self.prepared = 0
            if self.prepared or k:
                try:
                    from . import hold
                    hold.consts(self, f, True, m)
                except MemoryError:         # not even room for its code: per inference
                    if k:
                        raise MemoryError(plan[3] % gc.mem_free())
                    self.prepared = 0
                    self._held = None
                hold = None
                forget("motes.hold")
                gc.collect()

    # ---- the graph, as kernels see it ---------------------------------------
    # (in resident mode hold.calls() replaces tensor() and layer() with lookups
    # of what they made at load, where RAM allows)
    def _shape(self, at):
        s = self._s
        return tuple(s[at + 1:at + 1 + s[at]])

    def tensor(self, i):
        t = self._t
        k = 5 * i
        return Tensor(self._shape(t[k + 4]), t[k], self._sc[i], t[k + 1], t[k + 2], t[k + 3])

    def ref(self, i):
        """The place in the file of constant i (a structs.Const)."""
        c = self._c
        k = 4 * i
        shape = self._shape(c[k + 1])
        n = 1
        for d in shape:
            n *= d
        return Const(c[k] & 15, c[k] >> 4, shape, c[k + 2], c[k + 3], n)

    def layer(self, i):
        g = self._g
        k = self._at[i]
        n = g[k]
        ins = tuple(g[k + 1:k + 1 + n])
        k += n + 1
        n = g[k]
        outs = tuple(g[k + 1:k + 1 + n])
        k += n + 1
        n = g[k]
        lists = g[k + 1]
        k += 2
        p = []
        for j in range(n):
            if lists >> j & 1:
                m = g[k]
                p.append(tuple(g[k + 1:k + 1 + m]))
                k += m + 1
            else:
                p.append(g[k])
                k += 1
        slots = g[k + 1:k + 1 + g[k]]
        refs = [self.ref(c) if c >= 0 else None for c in slots]
        held = self._held
        return Layer(self.ops[i], ins, outs, tuple(p), refs,
                     [held[c] if c >= 0 and held else None for c in slots])

    # ---- constants, as the kernels ask for them ----------------------------------
    def const(self, L, slot):
        """A whole decoded constant array (bias, multipliers, small weights), or None."""
        r = L.refs[slot]
        if not r:
            return None
        w = L.consts[slot]
        if w is not None:           # decoded at load (streaming mode: all but weight matrices)
            return w
        if r.codec > 4:          # format 1.1: derived from other data (derive.py)
            return __import__("motes.derive", None, None, ("value",)).value(self, L, slot)
        if slot == 0:
            w = self._wc
            if w is not None and w[0] == r.pos:
                return w[1]
            buf = self._rowbuf
            if r.dtype == 0 and buf is not None and len(buf) >= r.n:
                # a small weight array (depthwise): into the chunk buffer, no allocation
                decode_into(self._f, r, buf)
                return buf
            w = decode_all(self._f, r)
            b = L.refs[1] if len(L.refs) > 1 else None
            if b is not None and b.codec == 6:     # its predicted bias needs it too (at load)
                self._wc = (r.pos, w)
            return w
        return decode_all(self._f, r)

    def rows(self, L, slot, row_len):
        """Yield (first_row, end_row, buffer) covering a row-major weight matrix
        (or an interleaved one: then whole groups of 8 rows at a time)."""
        w = L.consts[slot]
        if w is not None:
            yield 0, len(w) // row_len, w
            return
        ref = L.refs[slot]
        n_rows = ref.n // row_len
        per = max(1, self.chunk // row_len)
        if L.op & 64:
            # interleaved (format 1.2): whole groups of 8 output channels, and
            # one group if it is more than a chunk (the scan sized the buffer)
            per = max(8, per & ~7)
        per = min(n_rows, per)
        buf = self._rowbuf if ref.dtype == 0 else None   # one int8 chunk buffer for all layers
        stream = RowStream(self._f, ref, per * row_len, buf)
        if ref.dtype == 0 and stream.buf is not buf:
            self._rowbuf = stream.buf
        r = 0
        while r < n_rows:
            k = min(per, n_rows - r)
            buf = stream.next(k * row_len)
            if self.probe:
                self.probe()
            yield r, r + k, buf
            r += k

    # ---- running -------------------------------------------------------------
    def _run(self, trace=None):
        tensor = self.tensor
        # streaming without prepared constants (RAM was short) rebuilds them per
        # layer: free the previous layer's arrays first, so that this layer's
        # sit together, low, and leave the free memory in one piece
        collect = self.mode == "streaming" and not self.prepared
        for i in range(len(self.ops)):
            if collect:
                gc.collect()
            L = self.layer(i)
            if trace:
                trace.start()
            try:
                self._fns[i](self, L, [tensor(j) for j in L.ins], [tensor(j) for j in L.outs])
            except Exception as e:
                # the native module's ValueError('bad dims'), a decoder's
                # MoteError, an IndexError of a kernel: one MoteError naming
                # the file and the layer. (Few names and short strings: in
                # this module, which stays, each costs RAM for good)
                if type(e) is MemoryError:
                    raise
                raise MoteError("%s: %s: %s" % (self.what, "layer %d" % i, e))
            self._dv = self._wc = None
            if trace:
                trace.layer(i, L)
            if self.probe:
                self.probe()

    def _set_input_int8(self, x):
        t = self._input(x)
        mv = self.mv
        o = t.off
        for i in range(t.n):
            mv[o + i] = x[i] & 0xFF

    def _set_input_float(self, x):
        t = self._input(x)
        mv = self.mv
        o = t.off
        s = t.scale
        zp = t.zp
        # As TFLM: x / scale in float32 (also on ports whose floats are doubles,
        # where a quotient just off a half could round the other way), then
        # halves away from zero, done exactly (v + 0.5 can round up in float32).
        # A model from `motes train` takes raw readings: its meta's input_norm
        # (mean and std per feature, float32 values, repeated over a window) is
        # applied here, in float32, before the int8 quantization. One int8 scale
        # for all inputs could not hold counts in the 40 000s beside degrees C.
        norm = self.meta.get("input_norm") if self.meta else None
        mean = norm["mean"] if norm else None
        std = norm["std"] if norm else None
        k = len(mean) if norm else 1
        f = array("f", (0.0,))
        for i in range(t.n):
            f[0] = x[i]
            if norm:
                f[0] = f[0] - mean[i % k]
                f[0] = f[0] / std[i % k]
            f[0] = f[0] / s
            v = f[0]
            q = int(v)
            if v - q >= 0.5:
                q += 1
            elif q - v >= 0.5:
                q -= 1
            q += zp
            mv[o + i] = (-128 if q < -128 else 127 if q > 127 else q) & 0xFF

    def _input(self, x):
        t = self.tensor(self.inputs[0])
        if len(x) != t.n:
            raise ValueError("input has %d values; the model wants %d (shape %s)" % (len(x), t.n, t.shape))
        return t

    def input_buffer(self):
        """The input tensor's bytes in the arena (int8 as bytes): write the input
        there (e.g. f.readinto(buf), a camera frame) and call predict_int8(None):
        no input buffer of your own."""
        t = self.tensor(self.inputs[0])
        return self.mv[t.off:t.off + t.n]

    def predict_int8(self, x, out=None):
        """Raw int8 in (any sequence of ints in -128..127, or None: what is in
        input_buffer() already), int8 out (into `out` if given)."""
        if x is not None:
            self._set_input_int8(x)
        self._run()
        return self.output_int8(0, out)

    def predict(self, x):
        """Floats in, floats out: quantized and dequantized with the model's scales."""
        self._set_input_float(x)
        self._run()
        return self.output(0)

    def output_int8(self, k=0, out=None):
        """Output k of the last inference as int8 (into `out` if given): predict
        gives output 0, this the others of a model with several."""
        t = self.tensor(self.outputs[k])
        if out is None:
            out = bytearray(t.n)
        elif len(out) < t.n:
            raise ValueError("out has room for %d values; the model gives %d" % (len(out), t.n))
        mv = self.mv
        signed = not isinstance(out, (bytes, bytearray))
        for i in range(t.n):
            v = mv[t.off + i]
            out[i] = v - 256 if signed and v > 127 else v
        return out

    def output(self, k=0):
        """Output k of the last inference as floats (dequantized)."""
        t = self.tensor(self.outputs[k])
        mv = self.mv
        out = []
        for i in range(t.n):
            v = mv[t.off + i]
            if v > 127:
                v -= 256
            out.append((v - t.zp) * t.scale)
        return out

    def classify(self, x):
        """(label, probability) of the best class; needs labels in the model."""
        y = self.predict(x)
        best = 0
        for i in range(1, len(y)):
            if y[i] > y[best]:
                best = i
        label = self.labels[best] if self.labels else best
        return label, y[best]

    # ---- at the REPL (show.py, loaded when asked) ------------------------------
    def trace(self, x):
        """Run once, printing every layer's output range and time (x as for
        predict, or int8 values, or None: what is in input_buffer() already)."""
        from .show import trace
        return trace(self, x)

    def memory(self):
        """Bytes this model holds (arena, decoded constants) and what each mode needs."""
        from .show import memory
        return memory(self)

    def summary(self):
        """Print the layers, their shapes and sizes, and the memory figures."""
        from .show import summary
        summary(self)

    def __repr__(self):
        from .show import describe
        return describe(self)

    def close(self):
        if self._f:
            self._f.close()
            self._f = None


def load(path, mode=None, chunk=_CHUNK, verbose=True):
    """Open a .mote file: path is a file name, or a stream with read/seek/readinto."""
    if isinstance(path, str):
        try:
            f = open(path, "rb")
        except OSError:
            raise OSError("cannot open %s: copy the .mote file to the board first" % path)
        what = path
    else:
        f = path
        what = "stream"
    first = None
    try:
        while True:
            try:
                return Net(f, what, mode, chunk, verbose)
            except MemoryError as e:
                # the backend was chosen by itself and the model did not fit
                # with it: the next one (native code costs heap on a board);
                # if none fits, the first error says what the model needs
                if first is None:
                    first = e
                e = None
                gc.collect()
                if not kernels.fall_back():
                    raise first
                if verbose:
                    print("motes: not enough RAM with that backend, trying %s" % kernels.BACKEND)
    except BaseException:
        f.close()
        raise
    finally:
        _drop_reader()


def _arena_bytes(f):
    # The arena size, the first varint of the graph section (docs/FORMAT.md),
    # or 0; read one byte at a time into one small buffer, so that nothing is
    # left behind below the arena. reader.scan() checks the file properly.
    b = bytearray(1)
    try:
        f.seek(0)
        if f.read(4) != b"MOTE":
            return 0
        f.seek(16)              # after the header: the section table
        pos = 16                # no f.tell(): not every stream has it (mpremote mount)
        # the varints in turn: the section count (n = -2), each section's
        # length after its kind byte (n > 0: sections left; k: the kind,
        # -1: not read yet), then the arena size (n = -3), which returns
        n = -2
        at = k = -1
        skip = v = s = 0
        while s < 36:
            if f.readinto(b) != 1:
                return 0
            pos += 1
            if n > 0 and k < 0:
                k = b[0]
                continue
            v |= (b[0] & 0x7F) << s
            s += 7
            if b[0] < 0x80:
                if n == -3:
                    return v
                if n == -2:
                    n = v
                else:
                    if k == 3 and at < 0:   # the graph section
                        at = skip
                    skip += v
                    n -= 1
                    k = -1
                if not n:
                    if at < 0:
                        return 0
                    f.seek(pos + at)
                    n = -3
                v = s = 0
        return 0
    except (OSError, ValueError):
        return 0


def _drop_reader():
    # the reader and its op table are only needed while loading: free their code
    forget("motes.reader")
    forget("motes.optable")
    forget("motes.hold")
    gc.collect()

