# The REPL views of a Net: print(net), summary(), trace() and memory figures.
# Imported only when asked for, so a board running a model never loads it.
import gc
import time

from .opnames import NAMES

try:
    _us = time.ticks_us          # MicroPython

    def _since(t0):
        return time.ticks_diff(time.ticks_us(), t0)
except AttributeError:           # CircuitPython
    def _us():
        return time.monotonic_ns() // 1000

    def _since(t0):
        return _us() - t0


def _op(L):
    # the op's name; "/il": interleaved weights (format 1.2)
    return NAMES[L.op & 63] + ("/il" if L.op & 64 else "")


def _shape(t):
    return "x".join(str(d) for d in t.shape)


def _range(net, t):
    lo = 127
    hi = -128
    mv = net.mv
    for i in range(t.off, t.off + t.n):
        v = mv[i]
        if v > 127:
            v -= 256
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    return lo, hi


class Tracer:
    def __init__(self, net):
        self.net = net
        self.t0 = 0
        print("  # op                 output         int8 range     float range              time")

    def start(self):
        self.t0 = _us()

    def layer(self, i, L):
        dt = _since(self.t0)
        net = self.net
        t = net.tensor(L.outs[0])
        lo, hi = _range(net, t)
        print("%3d %-18s %-14s [%4d, %4d]  [%9.4g, %9.4g]  %7d us" % (
            i, _op(L), _shape(t), lo, hi, (lo - t.zp) * t.scale, (hi - t.zp) * t.scale, dt))


def trace(net, x):
    # x: floats, int8 values, or None: what is in input_buffer() already (as predict_int8)
    if x is None:
        pass
    elif isinstance(x, (bytes, bytearray)) or (x and isinstance(x[0], int)):
        net._set_input_int8(x)
    else:
        net._set_input_float(x)
    net._run(Tracer(net))
    return net.output(0)


def describe(net):
    from . import kernels
    ti = net.tensor(net.inputs[0])
    to = net.tensor(net.outputs[0])
    n = sum(1 for op in net.ops if op & 64)
    k = len(net.outputs)
    return "<motes.Net %s: %d layers, input %s, output %s%s, %d bytes, %s mode, %s backend%s%s>" % (
        net.name, len(net.ops), _shape(ti), _shape(to),
        (" and %d more (net.output(k))" % (k - 1)) if k > 1 else "", net.file_bytes, net.mode,
        kernels.backend(), (", %d interleaved" % n) if n else "",
        (", labels " + ",".join(net.labels)) if net.labels else "")


def memory(net):
    held = net.ram_resident - net.arena_size if net.mode == "resident" else net.prepared
    return {"arena": net.arena_size, "constants": held, "mode": net.mode,
            "resident_needs": net.ram_resident, "streaming_needs": net.ram_streaming,
            "free": gc.mem_free()}


def summary(net):
    print(describe(net))
    print("  # op                 input          output         stored bytes")
    for i in range(len(net.ops)):
        L = net.layer(i)
        w = sum(r.size for r in L.refs if r)
        print("%3d %-18s %-14s %-14s %8d" % (
            i, _op(L), _shape(net.tensor(L.ins[0])) if L.ins else "-",
            _shape(net.tensor(L.outs[0])), w))
    m = memory(net)
    print("memory: arena %d, constants held %d; resident needs %d, streaming %d; free %d" % (
        m["arena"], m["constants"], m["resident_needs"], m["streaming_needs"], m["free"]))
