# The model object a user holds at the REPL: load, predict, classify, trace.
#
# Two modes:
#  - resident: every layer's constants are decoded once at load (fastest);
#  - streaming: only the graph stays in RAM; each inference decodes each layer's
#    constants from the open file, the big weight matrices a few rows at a time.
# Activations live in one arena (a bytearray) allocated at load and placed by
# the host's memory plan; inference allocates no arena-sized buffers.
from micropython import const
import gc

from .structs import MoteError, nbytes
from .decode import decode_all, new_array, RowStream
from . import kernels
from .optable import SPECS

_CHUNK = const(4096)      # streaming: bytes of decoded weights per chunk
_MARGIN = const(8192)     # free RAM to keep when choosing resident mode
_READ_BUF = const(512)    # streaming: file read buffer and decoder state
_TABLES = const(2048)     # streaming: Huffman decoding tables of one array


def _round_away(v):
    # TFLM rounds halves away from zero; Python's round() goes to even
    return int(v + 0.5) if v >= 0 else -int(-v + 0.5)


class Net:
    def __init__(self, f, what, mode=None, chunk=_CHUNK, verbose=True):
        self.what = what
        self._f = f
        from . import reader  # freed again by load() once the model is read
        self.file_bytes = reader.check_file(f, what)
        self.arena = None
        self._rowbuf = None  # streaming: the int8 weight chunk buffer, reused by every layer

        def alloc_arena(size):
            try:
                self.arena = bytearray(size)
                # and the streaming chunk buffer: big blocks first, before the
                # graph's many small objects split the free memory
                if mode != "resident":
                    self._rowbuf = new_array(0, chunk)
            except MemoryError:
                gc.collect()
                raise MemoryError("%s: the activation arena needs %d bytes in one piece, %d are free in "
                                  "all: load the model first thing after boot (before other big "
                                  "objects), or use a smaller model" % (what, size, gc.mem_free()))
        meta, self.tensors, self.layers, self.inputs, self.outputs, self.arena_size = \
            reader.read_structure(f, what, SPECS, alloc_arena)
        reader = None
        self.meta = {}
        if meta:
            try:
                import json
                self.meta = json.loads(meta)
            except (ImportError, ValueError):
                pass
        self.labels = self.meta.get("labels")
        self.name = self.meta.get("name", what)
        self.chunk = chunk
        self.probe = None  # a function called after each layer and weight chunk (memory tests)
        need_resident = self.arena_size + sum(nbytes(r) for L in self.layers for r in L.refs if r)
        self.ram_resident = need_resident
        self.ram_streaming = self.arena_size + self._largest_stream_need()
        if mode is None:
            gc.collect()
            free = gc.mem_free()
            mode = "resident" if need_resident + _MARGIN < free else "streaming"
            if verbose:
                print("motes: %s mode (resident needs %d bytes, %d free)" % (mode, need_resident, free))
        if mode not in ("resident", "streaming"):
            raise ValueError("mode must be 'resident', 'streaming' or None (auto)")
        self.mode = mode
        if mode == "resident":
            self._rowbuf = None
        try:
            if self.arena is None:
                self.arena = bytearray(self.arena_size)
            if mode == "resident":
                for L in self.layers:
                    L.consts = [decode_all(f, r) if r else None for r in L.refs]
        except MemoryError:
            self.arena = None
            for L in self.layers:
                L.consts = None
            gc.collect()
            raise MemoryError("%s: %s mode needs about %d bytes, %d are free%s" % (
                what, mode, need_resident if mode == "resident" else self.ram_streaming, gc.mem_free(),
                "; try motes.load(..., mode='streaming')" if mode == "resident" else ""))
        self.mv = memoryview(self.arena)
        # per layer: (kernel, input tensors, output tensors), resolved once so an
        # inference allocates nothing to call its kernels
        t = self.tensors
        self._steps = [(kernels.get(L.op), [t[i] for i in L.ins], [t[i] for i in L.outs])
                       for L in self.layers]
        if mode == "resident":
            f.close()
            self._f = None
            for name in ("motes.huff", "motes.bits", "motes.dec_native"):
                _forget(name)  # decoders are not needed again

    def _largest_stream_need(self):
        # mirrors motes.report.streaming_bytes on the host
        best = 0
        for L in self.layers:
            need = _READ_BUF
            for slot, r in enumerate(L.refs):
                if not r:
                    continue
                n = nbytes(r)
                if slot == 0 and len(r.shape) > 1 and r.shape[0] > 1:  # weights, streamed by rows
                    row = n // r.shape[0]
                    n = max(row, (self.chunk // row) * row)
                if r.codec in (1, 2):
                    n += _TABLES
                need += n
            best = max(best, need)
        return best

    # ---- constants, as the kernels ask for them ----------------------------------
    def const(self, L, slot):
        """A whole decoded constant array (bias, multipliers, small weights), or None."""
        if L.consts is not None:
            return L.consts[slot]
        r = L.refs[slot]
        return decode_all(self._f, r) if r else None

    def rows(self, L, slot, row_len):
        """Yield (first_row, end_row, buffer) covering a row-major weight matrix."""
        if L.consts is not None:
            w = L.consts[slot]
            yield 0, len(w) // row_len, w
            return
        ref = L.refs[slot]
        n_rows = ref.n // row_len
        per = max(1, self.chunk // row_len)
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
        for i, L in enumerate(self.layers):
            if trace:
                trace.start()
            fn, ins, outs = self._steps[i]
            fn(self, L, ins, outs)
            if trace:
                trace.layer(i, L)
            if self.probe:
                self.probe()

    def _set_input_int8(self, x):
        t = self.tensors[self.inputs[0]]
        if len(x) != t.n:
            raise ValueError("input has %d values; the model wants %d (shape %s)" % (len(x), t.n, t.shape))
        mv = self.mv
        o = t.off
        for i in range(t.n):
            mv[o + i] = x[i] & 0xFF

    def _set_input_float(self, x):
        t = self.tensors[self.inputs[0]]
        if len(x) != t.n:
            raise ValueError("input has %d values; the model wants %d (shape %s)" % (len(x), t.n, t.shape))
        mv = self.mv
        o = t.off
        s = t.scale
        zp = t.zp
        for i in range(t.n):
            q = _round_away(x[i] / s) + zp
            mv[o + i] = (-128 if q < -128 else 127 if q > 127 else q) & 0xFF

    def predict_int8(self, x, out=None):
        """Raw int8 in (any sequence of ints in -128..127), int8 out (into `out` if given)."""
        self._set_input_int8(x)
        self._run()
        t = self.tensors[self.outputs[0]]
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

    def predict(self, x):
        """Floats in, floats out: quantized and dequantized with the model's scales."""
        self._set_input_float(x)
        self._run()
        return self._output_floats()

    def _output_floats(self):
        t = self.tensors[self.outputs[0]]
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

    def trace(self, x):
        """Run once, printing every layer's output range and time."""
        if isinstance(x, (bytes, bytearray)) or (x and isinstance(x[0], int)):
            self._set_input_int8(x)
        else:
            self._set_input_float(x)
        from .show import Tracer
        self._run(Tracer(self))
        return self._output_floats()

    def memory(self):
        """Bytes this model holds (arena, decoded constants) and what each mode needs."""
        from .show import memory
        return memory(self)

    def summary(self):
        """Print the layers, their shapes and sizes, and the memory figures."""
        from .show import summary
        summary(self)

    def __repr__(self):
        ti = self.tensors[self.inputs[0]]
        to = self.tensors[self.outputs[0]]
        return "<motes.Net %s: %d layers, input %s, output %s, %d bytes, %s mode, %s backend%s>" % (
            self.name, len(self.layers), "x".join(str(d) for d in ti.shape),
            "x".join(str(d) for d in to.shape), self.file_bytes, self.mode, kernels.BACKEND,
            (", labels " + ",".join(self.labels)) if self.labels else "")

    def close(self):
        if self._f:
            self._f.close()
            self._f = None


def load(path_or_stream, mode=None, chunk=_CHUNK, verbose=True):
    """Open a .mote file (a path, or a stream with read/seek/readinto)."""
    if isinstance(path_or_stream, str):
        try:
            f = open(path_or_stream, "rb")
        except OSError:
            raise OSError("cannot open %s: copy the .mote file to the board first" % path_or_stream)
        what = path_or_stream
    else:
        f = path_or_stream
        what = "stream"
    try:
        return Net(f, what, mode, chunk, verbose)
    except BaseException:
        f.close()
        raise
    finally:
        _forget("motes.reader")
        gc.collect()   # loading leaves garbage between long-lived objects: free it now


def _forget(name):
    # drop a module that is only needed while loading, so the GC can free its code
    import sys
    sys.modules.pop(name, None)
    pkg = sys.modules.get("motes")
    if pkg is not None and hasattr(pkg, name[6:]):
        delattr(pkg, name[6:])
