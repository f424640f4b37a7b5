"""The native backend: C kernels (ulab_kernels/) built as a MicroPython native
module (motes_native.mpy), run by the device runtime in the real MicroPython
unix port, bit for bit against the host's numpy reference.

* the x64 module is built here (make -C ulab_kernels ARCH=x64), the ARM ones
  too (armv6m under 12 KB; armv7m and armv7emsp build);
* the four shared models and every op-coverage model (per-channel and
  per-tensor), resident and streaming, with the .mote as the host writes it;
* every kernel on random small layers (geometry, offsets, multipliers, shifts,
  broadcasting; FULLY_CONNECTED / CONV_2D also with interleaved weights made
  offset binary by flip(), CONV_2D's with its own bias or None, extreme weight
  sums and input offsets; an interleaved FULLY_CONNECTED with the runtime's
  prepared requantization table) against the host ops;
* the Huffman / zero-run decoders fed in random chunks, against the host codecs;
* fuzzed bad calls (interleaved flags, flip() lengths and buffers too):
  ValueError, never a crash or a write outside a buffer;
* native vs python latency of person_detect and mlperf_tiny_kws (printed).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SHARED, SHARED_MODELS, missing_tool, shared_model
from motes import api, quant
from motes.board import device_build
from motes.compiler import interleave
from motes.run import mpy_engine
from motes.m0 import emu as m0emu
from motes import codecs
from motes import format as mote_format
from motes.run.executor import Executor
from motes.ops import conv as op_conv, depthwise_conv as op_dw, elementwise as op_elem
from motes.ops import activations as op_act, fully_connected as op_fc, pooling as op_pool
from motes.ops.base import Layer

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # tests/: opmodels, tflm
import opmodels  # noqa: E402

KDIR = ROOT / "ulab_kernels"
ABI = "6.3"
NATIVE_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
              "ADD", "SUB", "MUL", "SOFTMAX", "LOGISTIC", "TANH", "MEAN"}
MORE_OPS = {"ADD", "SUB", "MUL", "LOGISTIC", "TANH", "MEAN"}     # motes_native_more's
# .mpy header byte 2 is (arch << 2) | sub-version; arch codes of py/persistentcode.h
MPY_ARCH = {"x64": 2, "armv6m": 4, "armv7m": 5, "armv7emsp": 7}
# (the old 12 KB file limit is lifted: what counts is the heap the code takes on a
# board, bench/boards.py --heap; this only catches a module that grows by accident)
# 14,896 bytes with the C SOFTMAX, LOGISTIC, TANH, MEAN (12,967 before); 15,420 with
# the depthwise set-up unrolled (issue 17: the emulated M3 board's smallest heaps
# then micro_speech 48K, kws 62K, person_detect 107K, was 106K)
# 15,592 with dot8_4 going from vector to vector (issue 17: person_detect 0.31 M
# fewer instructions on the M0; the M3 board's smallest heaps 48K, 60K, 106K);
# 15,904 with the unsigned dot products of CONV_2D (0.24 M fewer; 49K, 62K, 107K);
# 16,072 with rq_fast unchecked where a pixel bounds its sums (0.27 M fewer);
# 16,272 at the end of issue 17 (depthwise round, unsigned short groups; the M3
# board's smallest heaps 49K, 58K, 105K with the 2 KB weight chunk);
# 14,507 with ADD, SUB, MUL, LOGISTIC, TANH and MEAN moved to motes_native_more
# (3,922 bytes, imported only by a model with those ops); 14,863 with dot2_4 and
# the stepping depthwise loop (motes_native_more 4,402 with ADD's add_same and
# MEAN's loop; the M3 board's smallest heaps 48K, 57K, 104K; 47K, 57K, 104K at
# 14,507)
ARMV6M_LIMIT = 16 * 1024


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------

def _missing_tools(arch: str) -> str | None:
    need = ["make", "gcc"] + (["arm-none-eabi-gcc"] if arch.startswith("arm") else [])
    gone = [t for t in need if shutil.which(t) is None]
    if gone:
        return f"{', '.join(gone)} not installed (apt-get install {' '.join(gone)})"
    if importlib.util.find_spec("elftools") is None:
        return "pyelftools not installed (pip install pyelftools; the test extra has it)"
    return None


def build(arch: str) -> Path:
    """Build both native modules for arch; the path of motes_native.mpy (motes_native_more.mpy beside it)."""
    why = _missing_tools(arch)
    missing_tool(f"cannot build the {arch} native module: {why}" if why else None)
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["make", "-C", str(KDIR), f"ARCH={arch}", f"MPY_PYTHON={sys.executable}"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"make ARCH={arch} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    out = KDIR / "dist" / f"{arch}_{ABI}" / "motes_native.mpy"
    assert out.exists() and out.with_name("motes_native_more.mpy").exists(), proc.stdout
    return out


@pytest.fixture(scope="session")
def native_dir() -> Path:
    return build("x64").parent


@pytest.fixture(scope="session")
def runtime_dir() -> Path:
    return device_build.build("x64")


def run_mpy(code: str, native_dir: Path, runtime_dir: Path, timeout: float = 900,
            heap: str | None = None) -> subprocess.CompletedProcess:
    """Run MicroPython code with the compiled runtime and motes_native importable."""
    head = (f"import sys\nsys.path.insert(0, {str(runtime_dir)!r})\n"
            f"sys.path.insert(0, {str(native_dir)!r})\n")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "main.py"
        script.write_text(head + code)
        cmd = [mpy_engine.micropython_path()] + (["-X", f"heapsize={heap}"] if heap else []) + [str(script)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, MICROPYPATH=""))


def _lines(proc) -> list[str]:
    assert proc.returncode == 0, f"MicroPython failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return [ln for ln in proc.stdout.splitlines() if ln.strip()]


# ---------------------------------------------------------------------------
# models through the runtime with the native backend
# ---------------------------------------------------------------------------

_MODEL_SCRIPT = r"""
import json, time, gc, sys
import motes
from motes import kernels
kernels.use({backend!r})
for mode, chunk in {runs!r}:
    net = motes.load({mote!r}, mode=mode, chunk=chunk, verbose=False)
    native = 0
    if {backend!r} == "native":
        from motes import k_native
        fns = list(k_native.OPS.values()) + list(k_native.MORE.values())
        steps = net._fns if hasattr(net, "_fns") else [s[0] for s in net._steps]
        native = sum(1 for f in steps if f in fns)
    T = net.tensor if hasattr(net, "tensor") else (lambda i: net.tensors[i])
    n_in = T(net.inputs[0]).n
    x = bytearray(n_in)
    out = bytearray(T(net.outputs[0]).n)
    f = open({inputs!r}, "rb")
    times = []
    while f.readinto(x) == n_in:
        t0 = time.ticks_us()
        net.predict_int8(x, out)
        times.append(time.ticks_diff(time.ticks_us(), t0))
        print(json.dumps([v - 256 if v > 127 else v for v in out]))
    f.close()
    print(json.dumps({{"done": mode, "backend": motes.backend(), "native_layers": native, "us": times,
                      "more": "motes_native_more" in sys.modules}}))
    net.close()
    net = None
    gc.collect()
"""


def run_model(data: bytes, xs, native_dir, runtime_dir, runs=(("resident", 4096), ("streaming", 4096)),
              backend="native"):
    """{mode: (outputs, info)} of the device runtime for int8 inputs xs."""
    with tempfile.TemporaryDirectory() as tmp:
        mote = Path(tmp) / "model.mote"
        mote.write_bytes(data)
        inp = Path(tmp) / "inputs.bin"
        inp.write_bytes(b"".join(np.asarray(x, np.int8).tobytes() for x in xs))
        code = _MODEL_SCRIPT.format(backend=backend, runs=[list(r) for r in runs], mote=str(mote),
                                    inputs=str(inp))
        lines = _lines(run_mpy(code, native_dir, runtime_dir))
    result, outs = {}, []
    for ln in lines:
        v = json.loads(ln)
        if isinstance(v, dict):
            result[v["done"]] = (outs, v)
            outs = []
        else:
            outs.append(np.array(v, np.int8))
    assert set(result) == {m for m, _ in runs}, lines[-5:]
    return result


def check_native(data: bytes, xs, native_dir, runtime_dir, runs=(("resident", 4096), ("streaming", 4096))):
    model = mote_format.from_bytes(data)
    ex = Executor(model)
    want = [ex.run([x])[0].ravel() for x in xs]
    n_native = sum(1 for L in model.layers if L.op in NATIVE_OPS)
    more = any(L.op in MORE_OPS for L in model.layers)
    for mode, (got, info) in run_model(data, xs, native_dir, runtime_dir, runs).items():
        assert info["backend"] == "native"
        assert info["native_layers"] == n_native, info
        # motes_native_more's code is in the heap only for a model with its ops
        assert info["more"] == more, info
        assert len(got) == len(xs)
        bad = sum(int(np.count_nonzero(g.ravel() != w)) for g, w in zip(got, want))
        assert bad == 0, (f"{mode}: {bad} int8 outputs differ from the host\n device "
                          f"{[g.tolist() for g in got]}\n host   {[w.tolist() for w in want]}")
    return n_native


def _random_inputs(data: bytes, n: int, seed: int):
    model = mote_format.from_bytes(data)
    rng = np.random.default_rng(seed)
    shape = model.tensors[model.inputs[0]].shape
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_shared_models_bitexact(name, native_dir, runtime_dir):
    data = api.convert(shared_model(name)).data
    xs = _random_inputs(data, 3 if name == "person_detect" else 8, seed=5)
    if name == "person_detect":
        for image in ("person", "no_person"):
            raw = (SHARED / "testdata" / "person_detection" / f"{image}_96x96_u8_topdown.raw").read_bytes()
            xs.append(np.frombuffer(raw, dtype=np.int8))
    # streaming with the default chunk and with small chunks (many pieces per weight matrix)
    n = check_native(data, xs, native_dir, runtime_dir,
                     runs=(("resident", 4096), ("streaming", 4096), ("streaming", 700)))
    assert n > 0


@pytest.mark.parametrize("per_channel", [True, False], ids=["pc", "pt"])
@pytest.mark.parametrize("name", sorted(opmodels.SPECS))
def test_opmodels_bitexact(name, per_channel, native_dir, runtime_dir, opmodel_cache):
    path = opmodels.build(name, opmodel_cache, per_channel=per_channel)
    data = api.convert(path).data
    xs = _random_inputs(data, 4, seed=17)
    check_native(data, xs, native_dir, runtime_dir,
                 runs=(("resident", 4096), ("streaming", 4096), ("streaming", 64)))


def test_without_motes_native_more_its_ops_run_in_python(tmp_path, native_dir, runtime_dir, opmodel_cache):
    """A board with motes_native.mpy but not motes_native_more.mpy (copied by
    hand, or an older deploy): ADD and MUL run in the Python kernels, the
    rest natively, and the outputs are the host's."""
    only, runtime = tmp_path / "native", tmp_path / "runtime"
    only.mkdir()
    shutil.copyfile(native_dir / "motes_native.mpy", only / "motes_native.mpy")
    shutil.copytree(runtime_dir / "motes", runtime / "motes")      # (runtime_dir has both modules too)
    data = api.convert(opmodels.build("add_mul", opmodel_cache)).data
    model = mote_format.from_bytes(data)
    xs = _random_inputs(data, 3, seed=4)
    want = [Executor(model).run([x])[0].ravel() for x in xs]
    n_core = sum(1 for L in model.layers if L.op in NATIVE_OPS - MORE_OPS)
    assert any(L.op in MORE_OPS for L in model.layers)
    for mode, (got, info) in run_model(data, xs, only, runtime).items():
        assert info["backend"] == "native" and not info["more"], info
        assert info["native_layers"] == n_core, info
        assert all(np.array_equal(g.ravel(), w) for g, w in zip(got, want)), mode


# ---------------------------------------------------------------------------
# kernels on random layers against the host ops
# ---------------------------------------------------------------------------

_CASES_SCRIPT = r"""
import json
from array import array
import motes_native as mn
import motes_native_more as mm
from motes.k_native import _rq_table

def buf(v):
    return array("b", v)

f = open({cases!r})
for line in f:
    c = json.loads(line)
    k = c["kind"]
    src = bytearray(array("b", c["x"]))
    dst = bytearray(c["ny"] + 16)
    for i in range(len(dst)):
        dst[i] = 0x5A
    y = memoryview(dst)[8:8 + c["ny"]]
    p = array("i", c["p"])
    if k in ("fc", "conv", "dw"):
        w = buf(c["w"])
        if c.get("il"):
            # interleaved: offset binary, made by flip() on the device
            mn.flip(w, len(w))
        bias = array("i", c["bias"]) if c["bias"] is not None else None
        m = array("i", c["m"])
        s = buf(c["s"])
        if k == "fc":
            # streaming: hand the rows over in two chunks; an interleaved layer
            # with the device runtime's prepared requantization
            rows, depth, split = p[10], p[13], c["split"]
            table = _rq_table(m, s, p[9], p[17], p[18]) if c.get("il") else None
            for r0, r1 in ((0, split), (split, rows)):
                q = array("i", p)
                q[10] = r1 - r0
                q[14] = r0
                mn.fc(q, src, y, w[r0 * depth:r1 * depth], bias, m, s, table)
        elif k == "conv":
            rows, rl, split = p[10], p[11] * p[12] * p[13], c["split"]
            scratch = bytearray(2 * rl)
            for r0, r1 in ((0, split), (split, rows)):
                q = array("i", p)
                q[10] = r1 - r0
                q[14] = r0
                mn.conv(q, src, y, w[r0 * rl:r1 * rl], bias, m, s, scratch)
        else:
            mn.dwconv(p, src, y, w, bias, m, s)
    elif k in ("avg", "max"):
        p.append(1 if k == "avg" else 0)
        mn.pool(p, src, y)
    elif k == "unary":
        (mn if p[0] == 6 else mm).unary(p, src, y)      # (SOFTMAX in the core module)
    else:
        mm.elem(p, src, buf(c["b"]), y)
    ok = all(dst[i] == 0x5A for i in range(8)) and all(dst[i] == 0x5A for i in range(8 + c["ny"], len(dst)))
    print(json.dumps([ok, [v - 256 if v > 127 else v for v in y]]))
f.close()
"""


def _qm(rng, n, acc_rms):
    """Per-channel (multiplier, shift) pairs as TFLM makes them: mostly scaling
    accumulators of about acc_rms into the int8 range, sometimes extreme."""
    m = rng.integers(1 << 30, 1 << 31, size=n, dtype=np.int64)
    s = int(np.round(np.log2(60.0 / max(acc_rms, 1.0)))) + rng.integers(-2, 3, size=n)
    if rng.random() < 0.1:
        s = rng.integers(-31, 8, size=n)
    return m, np.clip(s, -31, 30).astype(np.int64)


def _clamp(rng):
    if rng.random() < 0.6:
        return -128, 127
    return int(rng.integers(-128, -20)), int(rng.integers(20, 128))


def _geometry(rng, size, f, dil):
    """stride, pad and an output size whose windows all touch the image."""
    stride = int(rng.integers(1, 4))
    eff = (f - 1) * dil + 1
    pad = int(rng.integers(0, eff))
    o = max(1, (size + pad - eff) // stride + 1 + int(rng.integers(0, 2)))
    while (o - 1) * stride - pad >= size:
        o -= 1
    return stride, pad, o


def _conv_case(rng, kind, extreme=None, pointwise=False):
    """A random CONV_2D ("conv") or DEPTHWISE_CONV_2D ("dw") case. extreme
    (conv only): an interleaved layer with weights all -128 ("min"), all 127
    ("max") or both at random ("mixed"), and an input offset at an end of
    its range (-127 or 128: the sums of weights times offsets at their largest).
    pointwise (conv only): an interleaved 1x1, stride 1, no padding, of a
    shallow input (4 to 16 channels: conv_s8's matrix product over pixels)."""
    n = int(rng.integers(1, 3))
    ih, iw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    if pointwise:
        fh = fw = dh = dw = sh = sw = 1
        ph = pw = 0
        oh, ow = ih, iw
    else:
        fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        sh, ph, oh = _geometry(rng, ih, fh, dh)
        sw, pw, ow = _geometry(rng, iw, fw, dw)
    if kind == "conv":
        fd = int(rng.choice([4, 8, 12, 16])) if pointwise else int(rng.integers(1, 5))
        groups = int(rng.choice([1, 1, 2, 3])) if extreme is None and not pointwise else 1
        ic = fd * groups
        if pointwise:
            oc = int(rng.choice([8, 16, 24, 5, 13]))
        else:
            oc = groups * int(rng.integers(1, 4)) if groups > 1 else int(rng.integers(1, 20))
        w = rng.integers(-128, 128, size=(oc, fh, fw, fd), dtype=np.int8)
        dm = 1
        if extreme == "mixed":
            w = rng.choice(np.array([-128, 127], np.int8), size=w.shape).astype(np.int8)
        elif extreme is not None:
            w = np.full(w.shape, -128 if extreme == "min" else 127, np.int8)
    else:
        ic = int(rng.integers(1, 6))
        dm = int(rng.integers(1, 4))
        oc = ic * dm
        w = rng.integers(-128, 128, size=(1, fh, fw, oc), dtype=np.int8)
    x = rng.integers(-128, 128, size=(n, ih, iw, ic), dtype=np.int8)
    bias = None if rng.random() < 0.2 else rng.integers(-(1 << 13), 1 << 13, size=oc, dtype=np.int64)
    per_tensor = rng.random() < 0.3
    taps = fh * fw * (w.shape[3] if kind == "conv" else 1)
    m, s = _qm(rng, 1 if per_tensor else oc, 5000.0 * np.sqrt(taps))
    lo, hi = _clamp(rng)
    ioff, ooff = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    if extreme is not None:
        ioff = int(rng.choice([-127, 128]))
    geo = dict(stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw, pad_h=ph, pad_w=pw)
    params = dict(geo, input_offset=ioff, output_offset=ooff, act_min=lo, act_max=hi)
    if kind == "dw":
        params["depth_multiplier"] = dm
    consts = dict(weights=w, bias=np.zeros(oc, np.int32) if bias is None else bias.astype(np.int32),
                  multiplier=np.broadcast_to(m, (oc,)).astype(np.int32),
                  shift=np.broadcast_to(s, (oc,)).astype(np.int8))
    layer = Layer("CONV_2D" if kind == "conv" else "DEPTHWISE_CONV_2D", [], [], params=params, consts=consts)
    y = np.zeros((n, oh, ow, oc), np.int8)
    (op_conv if kind == "conv" else op_dw).evaluate(layer, [x], [y])
    il = kind == "conv" and groups == 1 and (extreme is not None or pointwise or rng.random() < 0.5)
    if il:
        # (CONV_2D keeps TFLite's bias, None too: the kernel works out input_offset * sum(w))
        layer = interleave.interleave_layer(layer)
        assert not interleave.folds_bias(layer.op)
        w = layer.consts["weights"]
    rows = oc if kind == "conv" else 1
    head = [0, n, ih, iw, ic, 0, n, oh, ow, oc, rows, fh, fw, w.shape[3], 0]
    if kind == "conv":
        tail = [sh, sw, dh, dw, ph, pw, ioff, ooff, lo, hi, int(il)]
    else:
        tail = [sh, sw, dh, dw, ph, pw, dm, ioff, ooff, lo, hi]
    case = dict(kind=kind, p=head + tail, x=x.ravel().tolist(), ny=y.size, w=w.ravel().tolist(),
                bias=None if bias is None else bias.tolist(), m=m.tolist(), s=s.tolist(),
                split=_split(rng, oc, il), il=il)
    return case, y


def _split(rng, oc, il):
    """Where the rows are cut in two chunks (interleaved: at a group of 8, or at the end)."""
    if not il:
        return int(rng.integers(0, oc + 1))
    return int(rng.choice(list(range(0, oc, 8)) + [oc]))


def _fc_case(rng):
    batches, depth, oc = int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 28))
    x = rng.integers(-128, 128, size=(batches, depth), dtype=np.int8)
    w = rng.integers(-128, 128, size=(oc, depth), dtype=np.int8)
    bias = None if rng.random() < 0.2 else rng.integers(-(1 << 13), 1 << 13, size=oc, dtype=np.int64)
    m, s = _qm(rng, 1 if rng.random() < 0.5 else oc, 5000.0 * np.sqrt(depth))
    lo, hi = _clamp(rng)
    ioff, foff, ooff = int(rng.integers(-127, 129)), int(rng.choice([0, 0, int(rng.integers(-127, 128))])), \
        int(rng.integers(-128, 128))
    layer = Layer("FULLY_CONNECTED", [], [],
                  params=dict(input_offset=ioff, filter_offset=foff, output_offset=ooff, act_min=lo, act_max=hi),
                  consts=dict(weights=w, bias=np.zeros(oc, np.int32) if bias is None else bias.astype(np.int32),
                              multiplier=np.broadcast_to(m, (oc,)).astype(np.int32),
                              shift=np.broadcast_to(s, (oc,)).astype(np.int8)))
    y = np.zeros((batches, oc), np.int8)
    op_fc.evaluate(layer, [x], [y])
    il = foff == 0 and rng.random() < 0.5
    if il:
        layer = interleave.interleave_layer(layer)
        w, bias = layer.consts["weights"], layer.consts["bias"].astype(np.int64)
    head = [0, batches, 1, 1, depth, 0, batches, 1, 1, oc, oc, 1, 1, depth, 0]
    case = dict(kind="fc", p=head + [ioff, foff, ooff, lo, hi, int(il)], x=x.ravel().tolist(), ny=y.size,
                w=w.ravel().tolist(), bias=None if bias is None else bias.tolist(), m=m.tolist(),
                s=s.tolist(), split=_split(rng, oc, il), il=il)
    return case, y


def _pool_case(rng, kind):
    n, ih, iw, c = int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 5))
    fh, fw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, ph, oh = _geometry(rng, ih, fh, 1)
    sw, pw, ow = _geometry(rng, iw, fw, 1)
    lo, hi = _clamp(rng)
    x = rng.integers(-128, 128, size=(n, ih, iw, c), dtype=np.int8)
    params = dict(filter_h=fh, filter_w=fw, stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, act_min=lo, act_max=hi)
    layer = Layer("AVERAGE_POOL_2D" if kind == "avg" else "MAX_POOL_2D", [], [], params=params)
    y = np.zeros((n, oh, ow, c), np.int8)
    op_pool.evaluate(layer, [x], [y])
    head = [0, n, ih, iw, c, 0, n, oh, ow, c, 0, 0, 0, 0, 0]
    return dict(kind=kind, p=head + [fh, fw, sh, sw, ph, pw, lo, hi], x=x.ravel().tolist(), ny=y.size), y


def _elem_case(rng):
    op = str(rng.choice(["ADD", "SUB", "MUL"]))
    rank = int(rng.integers(0, 5))
    full = [int(rng.integers(1, 5)) for _ in range(rank)]
    sa = [d if rng.random() < 0.6 else 1 for d in full][int(rng.integers(0, rank + 1)):]
    sb = [d if rng.random() < 0.6 else 1 for d in full][int(rng.integers(0, rank + 1)):]
    out = list(np.broadcast_shapes(tuple(sa), tuple(sb)))
    a = rng.integers(-128, 128, size=sa, dtype=np.int8)
    b = rng.integers(-128, 128, size=sb, dtype=np.int8)
    o1, o2, oo = (int(v) for v in rng.integers(-127, 128, size=3))
    lo, hi = _clamp(rng)
    p = dict(input1_offset=o1, input2_offset=o2, output_offset=oo, left_shift=0, input1_multiplier=0,
             input1_shift=0, input2_multiplier=0, input2_shift=0, output_multiplier=0, output_shift=0,
             act_min=lo, act_max=hi)
    if op == "MUL":
        m, s = quant.quantize_multiplier(float(rng.uniform(1e-3, 2e-2)))
        p.update(output_multiplier=m, output_shift=s)
    else:
        # as TFLM's Prepare makes them: the larger input scale gives 0.5
        r1, r2 = 0.5, float(rng.uniform(0.05, 0.5))
        if rng.random() < 0.5:
            r1, r2 = r2, r1
        ro = float(rng.uniform(0.3, 4.0)) / (1 << 20)
        (m1, s1), (m2, s2), (mo, so) = (quant.quantize_multiplier_smaller_than_one(r) for r in (r1, r2, ro))
        p.update(left_shift=20, input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
                 output_multiplier=mo, output_shift=so)
    layer = Layer(op, [], [], params=p)
    y = np.zeros(out, np.int8)
    op_elem.evaluate(layer, [a, b], [y])

    def shape(s):
        return [len(s)] + list(s) + [1] * (6 - len(s))
    ints = list(p.values()) + [{"ADD": 9, "SUB": 20, "MUL": 10}[op], 0, 0, 0] + shape(sa) + shape(sb) + shape(out)
    return dict(kind="elem", p=[int(v) for v in ints], x=a.ravel().tolist(), b=b.ravel().tolist(), ny=y.size), y


def _unary_case(rng, i):
    """SOFTMAX, LOGISTIC, TANH or MEAN on a random shape with random quantization
    (m0emu.synthetic_layer: the host's prepare), as k_native calls unary()."""
    op = ("SOFTMAX", "LOGISTIC", "TANH", "MEAN")[i % 4]
    rank = int(rng.integers(1, 5))
    shape = tuple(int(rng.integers(1, 7 if rank > 2 else 40)) for _ in range(rank))
    axes = tuple(sorted(rng.choice(rank, size=int(rng.integers(1, rank + 1)), replace=False).tolist()))
    layer, x, out_shape = m0emu.synthetic_layer(op, shape, rng, kernel=axes)
    y = m0emu.reference(layer, [x], [out_shape])[0]
    p = layer.params
    q = {"SOFTMAX": ("input_multiplier", "input_left_shift", "diff_min"),
         "MEAN": ("multiplier", "shift", "sum_offset", "output_zero_point")}.get(op, op_act.PARAMS)
    ints = ([{"SOFTMAX": 6, "LOGISTIC": 7, "TANH": 8, "MEAN": 11}[op], 0, 0, rank] + list(shape)
            + [1] * (6 - rank) + [sum(1 << a for a in axes) if op == "MEAN" else 0])
    ints += [int(p[k]) for k in q] + [0] * (9 - len(q))
    return dict(kind="unary", p=ints, x=x.ravel().tolist(), ny=y.size), y


def test_kernels_on_random_layers(native_dir, runtime_dir):
    rng = np.random.default_rng(2024)
    cases = []
    for i in range(700):
        k = i % 7
        if k == 0:
            cases.append(_fc_case(rng))
        elif k in (1, 2):
            cases.append(_conv_case(rng, "conv"))
        elif k == 3:
            cases.append(_conv_case(rng, "dw"))
        elif k == 4:
            cases.append(_pool_case(rng, "avg"))
        elif k == 5:
            cases.append(_pool_case(rng, "max"))
        else:
            cases.append(_elem_case(rng))
    for i in range(60):   # interleaved CONV_2D: extreme weight sums and input offsets, bias or None
        cases.append(_conv_case(rng, "conv", extreme=("min", "max", "mixed")[i % 3]))
    for i in range(40):   # interleaved 1x1 of shallow inputs, stride 1: the matrix product over pixels
        cases.append(_conv_case(rng, "conv", extreme=(None, "min", "max", "mixed")[i % 4], pointwise=True))
    for i in range(200):  # SOFTMAX, LOGISTIC, TANH, MEAN (API 4)
        cases.append(_unary_case(rng, i))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c, _ in cases))
        lines = _lines(run_mpy(_CASES_SCRIPT.format(cases=str(path)), native_dir, runtime_dir))
    assert len(lines) == len(cases)
    bad = []
    for (case, want), line in zip(cases, lines):
        ok, got = json.loads(line)
        assert ok, f"{case['kind']}: wrote outside its output"
        if got != want.ravel().tolist():
            bad.append((case["kind"], case["p"], got, want.ravel().tolist()))
    assert not bad, f"{len(bad)} of {len(cases)} layers differ, e.g. {bad[:2]}"


# ---------------------------------------------------------------------------
# decoders
# ---------------------------------------------------------------------------

_DECODE_SCRIPT = r"""
import json, random
from array import array
import motes_native as mn
random.seed({seed})
f = open({cases!r})
for line in f:
    codec, count, payload = json.loads(line)
    data = bytes(payload)
    t1 = bytearray(mn.HUFF_TABLE_SIZE)
    used = mn.huff_table(t1, data, 0, codec == 1 or 0)
    tables = used
    if codec == 2:
        t2 = bytearray(mn.HUFF_TABLE_SIZE)
        tables += mn.huff_table(t2, data, used, 1)
        st = array("i", [0, 0, 0, 0, 0, count])
    else:
        st = array("i", [0, 0, 0])
    out = bytearray(count + 2)
    got = 0
    pos = tables
    while got < count:
        # the next chunk of the payload, and a random number of values wanted
        k = random.randint(0, 9)
        chunk = data[pos:pos + k]
        pos += len(chunk)
        st[2] = 0
        while True:
            want = min(random.randint(1, 50), count - got)
            if codec == 1:
                n = mn.huff_decode(t1, st, chunk, out, got, want)
            else:
                n = mn.zrun_decode(t1, t2, st, chunk, out, got, want)
            got += n
            if n < want or got == count:
                break
        if not chunk and n == 0 and pos >= len(data):
            break
    print(json.dumps([tables, got, [v - 256 if v > 127 else v for v in out[:got]]]))
f.close()
"""


def _decode_cases(rng):
    cases = []
    for i in range(60):
        n = int(rng.integers(0, 3000))
        kind = i % 6
        if kind == 0:
            v = rng.integers(-128, 128, size=n)
        elif kind == 1:
            v = np.clip(np.round(rng.laplace(0, rng.uniform(0.5, 20), size=n)), -128, 127)
        elif kind == 2:
            v = np.full(n, int(rng.integers(-128, 128)))
        elif kind == 3:
            v = np.where(rng.random(n) < 0.8, 0, rng.integers(-128, 128, size=n))
        elif kind == 4:
            v = np.where(rng.random(n) < 0.995, 0, rng.integers(-3, 4, size=n))
        else:
            v = np.zeros(n)
            if n:
                v[int(rng.integers(0, n))] = 1
        cases.append(v.astype(np.int8))
    cases.append(np.array([3, 3, -1, 0, 3, 5, 3, 0], np.int8))
    cases.append(np.array([0] * 256 + [1] + [0] * 300, np.int8))
    return cases


@pytest.mark.parametrize("codec", ["huffman", "zerorun"])
def test_decoders_in_chunks(codec, native_dir, runtime_dir):
    rng = np.random.default_rng(11 if codec == "huffman" else 12)
    c = codecs.by_name(codec)
    values = [v for v in _decode_cases(rng) if v.size]
    payloads = [c.encode(v) for v in values]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        path.write_text("".join(json.dumps([c.id, int(v.size), list(p)]) + "\n" for v, p in zip(values, payloads)))
        lines = _lines(run_mpy(_DECODE_SCRIPT.format(seed=5, cases=str(path)), native_dir, runtime_dir))
    assert len(lines) == len(values)
    for v, p, line in zip(values, payloads, lines):
        tables, got, out = json.loads(line)
        assert tables == c.table_bytes(p)
        assert got == v.size and out == v.tolist()


def test_decoder_rejects_corrupt_tables(native_dir, runtime_dir):
    code = r"""
import random
from array import array
import motes_native as mn
random.seed(1)
t = bytearray(mn.HUFF_TABLE_SIZE)
ok = bad = 0
for i in range(3000):
    data = bytes(random.getrandbits(8) for _ in range(random.randint(0, 40)))
    try:
        mn.huff_table(t, data, 0, i & 1)
        ok += 1
    except ValueError:
        bad += 1
        continue
    st = array("i", [0, 0, 0])
    out = bytearray(64)
    mn.huff_decode(t, st, bytes(random.getrandbits(8) for _ in range(20)), out, 0, 64)
# a table that was never built, and a built one corrupted by hand
t = bytearray(mn.HUFF_TABLE_SIZE)
for j in range(len(t)):
    t[j] = 0xFF
try:
    mn.huff_decode(t, array("i", [0, 0, 0]), b"abc", bytearray(4), 0, 4)
    print("ACCEPTED")
except ValueError:
    pass
print("DONE", ok, bad)
"""
    lines = _lines(run_mpy(code, native_dir, runtime_dir))
    assert lines[-1].startswith("DONE") and "ACCEPTED" not in lines


# ---------------------------------------------------------------------------
# fuzzed bad calls
# ---------------------------------------------------------------------------

_FUZZ_SCRIPT = r"""
import random
from array import array
import motes_native as mn
import motes_native_more as mm
random.seed({seed})

GUARD = 8
def guarded(n):
    b = bytearray(n + 2 * GUARD)
    for i in range(len(b)):
        b[i] = 0xA5
    return b, memoryview(b)[GUARD:GUARD + n]

def intact(b, n):
    for i in list(range(GUARD)) + list(range(GUARD + n, n + 2 * GUARD)):
        if b[i] != 0xA5:
            return False
    return True

def w8(n):
    return array("b", [random.randint(-128, 127) for _ in range(n)])

def i32(n, lo, hi):
    return array("i", [random.randint(lo, hi) for _ in range(n)])

# valid calls to start from: (name, p, buffer args); dst is slot 1 (a guarded view)
def base():
    n, h, w, c = 1, random.randint(1, 6), random.randint(1, 6), random.randint(1, 4)
    oc = random.randint(1, 4)
    src = w8(n * h * w * c)
    head = [0, n, h, w, c, 0, n, h, w, oc, oc, 1, 1, c, 0]
    q = (i32(oc, 1 << 30, (1 << 31) - 1), w8(oc))
    calls = [
        ("fc", [0, h * w, 1, 1, c, 0, h * w, 1, 1, oc, oc, 1, 1, c, 0, 3, 0, -2, -128, 127, random.randint(0, 1)],
         [src, None, w8(oc * c), i32(oc, -999, 999)] + list(q) + [i32(5 * oc, -(1 << 24), 1 << 24)]),
        ("conv", head + [1, 1, 1, 1, 0, 0, 5, -3, -128, 127, 0],
         [src, None, w8(oc * c), None] + list(q) + [bytearray(2 * c)]),
        ("conv", head + [1, 1, 1, 1, 0, 0, 5, -3, -128, 127, 1],
         [src, None, w8(oc * c), i32(oc, -999, 999)] + list(q) + [bytearray(2 * c)]),
        ("dwconv", [0, n, h, w, c, 0, n, h, w, c, 1, 1, 1, c, 0, 1, 1, 1, 1, 0, 0, 1, 0, 0, -128, 127],
         [src, None, w8(c), i32(c, -5, 5), i32(c, 1 << 30, (1 << 31) - 1), w8(c)]),
        ("pool", [0, n, h, w, c, 0, n, h, w, c, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, -128, 127, 1], [src, None]),
        ("pool", [0, n, h, w, c, 0, n, h, w, c, 0, 0, 0, 0, 0, 2, 2, 1, 1, 0, 0, -128, 127, 0], [src, None]),
        ("elem", [1, -2, 3, 20, 1 << 30, -1, 1 << 30, -2, 1 << 30, -18, -128, 127, 9, 0, 0, 0,
                  2, h, w, 1, 1, 1, 1, 1, w, 1, 1, 1, 1, 1, 2, h, w, 1, 1, 1, 1], [src, w8(w), None]),
    ]
    return calls

def out_len(name, p):
    return p[6] * p[7] * p[8] * p[9] if name != "elem" else p[31] * p[32]

BAD_OBJECTS = [None, 0, 5, "text", [1, 2, 3], (1,), array("h", [1, 2]), array("f", [1.0]), array("q", [1]),
               array("b"), bytearray(0), b"", array("i"), 3.5]
VE = TE = OK = 0
for it in range({n}):
    name, p, bufs = random.choice(base())
    p = list(p)
    bufs = list(bufs)
    fn = getattr(mm if name == "elem" else mn, name)
    nout = out_len(name, p)
    mode = random.randint(0, 6)
    if mode == 0:        # random ints in p: negative, zero, huge dims, offsets past the end
        for _ in range(random.randint(1, 4)):
            p[random.randrange(len(p))] = random.choice([-1, 0, -(1 << 31), (1 << 31) - 1, 1 << 16, 40000,
                                                         random.randint(-1000, 1000), 32768, 255, 256])
        if name in ("fc", "conv") and random.random() < 0.3:   # the interleaved flag
            p[-1] = random.choice([-1, 2, 3, 255, 1 << 16, -(1 << 31)])
    elif mode == 1:      # p of the wrong length or type
        p = random.choice([p[:-1], p + [0], []])
    elif mode == 2:      # a buffer argument replaced by a wrong object
        bufs[random.randrange(len(bufs))] = random.choice(BAD_OBJECTS)
    elif mode == 3:      # a buffer cut short
        k = random.randrange(len(bufs))
        if bufs[k] is not None and len(bufs[k]) > 0:
            bufs[k] = bufs[k][:random.randrange(len(bufs[k]))]
    elif mode == 4:      # dst too short for the output
        nout = max(0, nout - random.randint(1, 3))
    elif mode == 5:      # read-only dst
        pass
    store, dst = guarded(nout)
    if mode == 5:
        dst = bytes(nout)
    args = [array("i" if mode != 6 else random.choice("bhfq"), p) if not (mode == 1 and random.random() < 0.2)
            else random.choice(BAD_OBJECTS)] + bufs
    args[2] = dst
    if random.random() < 0.05:
        args = args[:random.randrange(len(args))]
    try:
        fn(*args)
        OK += 1
    except ValueError:
        VE += 1
    except TypeError:
        TE += 1
    if not intact(store, nout):
        print("OVERWRITE", name, mode, p)
# flip(buf, n): n outside 0 .. len, read-only or wrong buffers
for it in range({n} // 4):
    n = random.randint(0, 12)
    store, view = guarded(n)
    k = random.choice([-(1 << 31), -5, -1, 0, n, n + 1, n + 3, 1 << 20, random.randint(0, n)])
    target = random.choice([view, view, bytes(n), array("i", [1] * n), "text", None, array("b", [0] * n)])
    try:
        mn.flip(target, k)
        OK += 1
        if target is view and not (0 <= k <= n):
            print("OVERWRITE flip accepted", n, k)
    except ValueError:
        VE += 1
    except TypeError:
        TE += 1
    if not intact(store, n):
        print("OVERWRITE flip", n, k)
# flip twice is the identity, flip of 0 bytes changes nothing
b = bytearray(range(256))
mn.flip(b, 256)
assert b[0] == 0x80 and b[0x80] == 0
mn.flip(b, 256)
mn.flip(b, 0)
assert b == bytearray(range(256))
m = memoryview(b)[1:254]
mn.flip(m, 253)
assert b[0] == 0 and b[1] == 0x81 and b[253] == 0x7D and b[254] == 254
assert mn.API == 4 and mm.API == 4
# each module has its own ops: the other's are refused
assert not hasattr(mn, "elem") and not hasattr(mm, "fc") and not hasattr(mm, "huff_table")
for mod, op in ((mn, 7), (mn, 8), (mn, 11), (mm, 6)):
    try:
        mod.unary(array("i", [op, 0, 0, 1, 4, 1, 1, 1, 1, 1, 0] + [0] * 9), bytearray(4), bytearray(4))
        print("OVERWRITE unary of the other module accepted", op)
    except ValueError:
        pass
print("DONE", OK, VE, TE)
"""


def test_fuzzed_bad_calls_raise_valueerror(native_dir, runtime_dir):
    lines = _lines(run_mpy(_FUZZ_SCRIPT.format(seed=99, n=6000), native_dir, runtime_dir))
    assert not [ln for ln in lines if ln.startswith("OVERWRITE")], lines[:5]
    done = lines[-1].split()
    assert done[0] == "DONE", lines[-5:]
    ok, ve, te = (int(v) for v in done[1:])
    # TypeError only from the interpreter's own conversions (e.g. array('i', 'text'))
    assert ve > 4000 and te < ve // 10, (ok, ve, te)


def test_decoder_bad_calls(native_dir, runtime_dir):
    code = r"""
from array import array
import motes_native as mn
t = bytearray(mn.HUFF_TABLE_SIZE)
mn.huff_table(t, bytes([0x0a, 0xfd, 0x06, 0x08]), 0, 1)
bad = [
    lambda: mn.huff_table(bytearray(10), b"\x00\x01", 0, 1),
    lambda: mn.huff_table(t, b"\x00\x01", 5, 1),
    lambda: mn.huff_table(t, b"\x00\x01", -1, 1),
    lambda: mn.huff_table(bytes(mn.HUFF_TABLE_SIZE), b"\x00\x01", 0, 1),
    lambda: mn.huff_decode(t, array("i", [0, 0]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.huff_decode(t, array("i", [0, 0, 9]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.huff_decode(t, array("i", [0, 40, 0]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.huff_decode(t, array("i", [0, 0, 0]), b"\x27", bytearray(8), 1, 8),
    lambda: mn.huff_decode(t, array("i", [0, 0, 0]), b"\x27", bytearray(8), 0, -1),
    lambda: mn.huff_decode(t, array("i", [0, 0, 0]), b"\x27", bytes(8), 0, 8),
    lambda: mn.huff_decode(t, array("h", [0, 0, 0]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.zrun_decode(t, t, array("i", [0, 0, 0]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.zrun_decode(t, t, array("i", [0, 0, 0, 0, 0, 0]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.zrun_decode(t, t, array("i", [0, 0, 0, 300, 0, 5]), b"\x27", bytearray(8), 0, 8),
    lambda: mn.huff_decode(t, array("i", [0, 0, 0]), b"\x27"),
]
n = 0
for f in bad:
    try:
        f()
        print("ACCEPTED", n)
    except ValueError:
        pass
    n += 1
print("DONE")
"""
    lines = _lines(run_mpy(code, native_dir, runtime_dir))
    assert lines == ["DONE"], lines


# ---------------------------------------------------------------------------
# board builds and speed
# ---------------------------------------------------------------------------

def _arch_of(mpy: Path) -> int:
    head = mpy.read_bytes()[:4]
    assert head[:2] == b"M\x06", head
    return head[2] >> 2


def test_board_builds(native_dir):
    sizes = {}
    for arch in ("armv6m", "armv7m", "armv7emsp"):
        out = build(arch)
        more = out.with_name("motes_native_more.mpy")
        sizes[arch] = (out.stat().st_size, more.stat().st_size)
        assert _arch_of(out) == MPY_ARCH[arch] and _arch_of(more) == MPY_ARCH[arch]
    # building other architectures leaves the x64 modules in place and intact
    assert _arch_of(native_dir / "motes_native.mpy") == MPY_ARCH["x64"]
    assert _arch_of(native_dir / "motes_native_more.mpy") == MPY_ARCH["x64"]
    print("\nmotes_native.mpy, motes_native_more.mpy sizes:",
          ", ".join(f"{a} {s} + {m} bytes" for a, (s, m) in sizes.items()))
    assert sizes["armv6m"][0] < ARMV6M_LIMIT, sizes


# ---------------------------------------------------------------------------
# the ARM code paths (16-bit limb products on Cortex-M0, SMLAD on Cortex-M4)
# ---------------------------------------------------------------------------

_HARNESS_C = r"""int printf(const char *fmt, ...);
#include <stdint.h>
#include "motes_kernels.h"
static uint32_t rs = 12345;
static uint32_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 17; rs ^= rs << 5; return rs; }
static int32_t rr(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static uint32_t h = 2166136261u;
static void mix(uint32_t v) { h = (h ^ v) * 16777619u; }
static int8_t in[4096], wt[8192], out[8192];
static int32_t bias[64], mult[64];
static int8_t shift[64];
static int16_t scratch[4096];
int main(void) {
    for (int i = 0; i < 200000; i++) {
        int32_t x = (int32_t)rnd(), m = (int32_t)rnd(), s = rr(-40, 31);
        if (i & 1) m = (int32_t)((rnd() >> 1) | 0x40000000u);
        if (i % 7 == 0) x = rr(-70000, 70000);
        mix((uint32_t)mk_requantize(x, m, s));
    }
    mix((uint32_t)mk_requantize(INT32_MIN, INT32_MIN, 0));
    printf("requant %08x\n", (unsigned)h);
    for (int it = 0; it < 3000; it++) {
        mk_dims d_in = {1, rr(1, 8), rr(1, 8), 0}, d_f, d_out;
        int fd = rr(1, 20), groups = rr(1, 2), oc = groups * rr(1, 8);
        d_in.c = fd * groups;
        d_f = (mk_dims){oc, rr(1, 3), rr(1, 3), fd};
        mk_conv_params p = {rr(1, 2), rr(1, 2), rr(1, 2), rr(1, 2), rr(0, 1), rr(0, 1), rr(-128, 127), rr(-128, 127), -128, 127, 1, 0};
        d_out = (mk_dims){1, rr(1, 8), rr(1, 8), oc};
        for (int i = 0; i < 4096; i++) in[i] = (int8_t)rnd();
        for (int i = 0; i < 8192; i++) wt[i] = (int8_t)rnd();
        for (int i = 0; i < 64; i++) { bias[i] = rr(-5000, 5000); mult[i] = (int32_t)((rnd() >> 1) | 0x40000000u); shift[i] = (int8_t)rr(-12, 0); }
        mk_quant q = {mult, shift, oc};
        mk_ctx ctx = {scratch, sizeof scratch};
        int st = mk_convolve_s8(&ctx, &p, &q, &d_in, in, &d_f, wt, bias, &d_out, out);
        mix((uint32_t)st);
        for (int i = 0; i < d_out.h * d_out.w * oc; i++) mix((uint32_t)out[i]);
        p.depth_multiplier = rr(1, 3);
        mk_dims dd_in = {1, d_in.h, d_in.w, rr(1, 8)};
        mk_dims dd_f = {1, d_f.h, d_f.w, dd_in.c * p.depth_multiplier};
        mk_dims dd_out = {1, d_out.h, d_out.w, dd_f.c};
        mk_quant q2 = {mult, shift, dd_f.c};
        st = mk_depthwise_conv_s8(&p, &q2, &dd_in, in, &dd_f, wt, bias, &dd_out, out);
        mix((uint32_t)st);
        for (int i = 0; i < dd_out.h * dd_out.w * dd_out.c; i++) mix((uint32_t)out[i]);
        mk_fc_params fp = {rr(-128, 127), 0, rr(-128, 127), -128, 127, 0};
        mk_dims f_in = {rr(1, 3), 1, 1, rr(1, 200)}, f_f = {oc, 1, 1, f_in.c}, f_out = {f_in.n, 1, 1, oc};
        st = mk_fully_connected_s8(&fp, &q, &f_in, in, &f_f, wt, bias, &f_out, out);
        mix((uint32_t)st);
        for (int i = 0; i < f_in.n * oc; i++) mix((uint32_t)out[i]);
        mk_pool_params pp = {rr(1, 3), rr(1, 3), rr(1, 2), rr(1, 2), rr(0, 1), rr(0, 1), -128, 127};
        mk_dims p_out = {1, rr(1, d_in.h), rr(1, d_in.w), d_in.c};
        st = mk_avgpool_s8(&pp, &d_in, in, &p_out, out);
        mix((uint32_t)st);
        for (int i = 0; i < p_out.h * p_out.w * p_out.c; i++) mix((uint32_t)out[i]);
        mk_elem_params ep = {rr(-127, 127), rr(-127, 127), rr(-128, 127), 20, 1 << 30, -1, 1 << 30, -2, 1 << 30, -21, -128, 127};
        mk_shape s1 = {2, {d_in.h, d_in.w}}, s2 = {1, {d_in.w}}, so = {2, {d_in.h, d_in.w}};
        st = mk_elementwise_s8((mk_elem_op)(it % 3), &ep, &s1, in, &s2, wt, &so, out);
        mix((uint32_t)st);
        for (int i = 0; i < d_in.h * d_in.w; i++) mix((uint32_t)out[i]);
    }
    printf("all %08x\n", (unsigned)h);
    return 0;
}
"""

# no libc: Linux syscalls for qemu-arm's user mode, a printf for "%08x" only
_ARM_SYS_C = r"""#include <stdint.h>
#include <stddef.h>
static void sys_write(const char *s, int n) {
    register int r0 __asm__("r0") = 1; register const char *r1 __asm__("r1") = s;
    register int r2 __asm__("r2") = n; register int r7 __asm__("r7") = 4;
    __asm__ volatile("svc 0" : "+r"(r0) : "r"(r1), "r"(r2), "r"(r7) : "memory");
}
static void sys_exit(int c) {
    register int r0 __asm__("r0") = c; register int r7 __asm__("r7") = 1;
    __asm__ volatile("svc 0" : : "r"(r0), "r"(r7));
    for (;;) {}
}
void *memset(void *d, int c, size_t n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
void *memcpy(void *d, const void *s, size_t n) { unsigned char *p = d; const unsigned char *q = s; while (n--) *p++ = *q++; return d; }
int printf(const char *fmt, ...) {
    /* only "label %08x\n" with one unsigned argument */
    __builtin_va_list ap; __builtin_va_start(ap, fmt);
    unsigned v = __builtin_va_arg(ap, unsigned); __builtin_va_end(ap);
    char buf[64]; int n = 0;
    for (const char *f = fmt; *f; f++) {
        if (f[0] == '%' && f[1] == '0') { for (int i = 7; i >= 0; i--) buf[n++] = "0123456789abcdef"[(v >> (4 * i)) & 15]; f += 3; }
        else buf[n++] = *f;
    }
    sys_write(buf, n); return n;
}
int main(void);
uint8_t stack[1 << 16] __attribute__((aligned(8)));
__attribute__((naked)) void _start(void) {
    __asm__ volatile("ldr r0, =stack+65536\n mov sp, r0\n bl cmain\n");
}
void cmain(void) { sys_exit(main()); }
"""


def test_arm_code_paths_match_x64(tmp_path):
    """kernels.c for Cortex-M0, M3 and M4 (run in qemu-arm) computes exactly
    what the x64 build computes (which the tests above check against the host)."""
    tools = [t for t in ("gcc", "arm-none-eabi-gcc", "qemu-arm") if shutil.which(t) is None]
    missing_tool(f"{', '.join(tools)} not installed (qemu-arm: apt-get install qemu-user)" if tools else None)
    (tmp_path / "harness.c").write_text(_HARNESS_C)
    (tmp_path / "sys.c").write_text(_ARM_SYS_C)
    common = [f"-I{KDIR}", str(tmp_path / "harness.c"), str(KDIR / "kernels.c")]
    exe = tmp_path / "h64"
    subprocess.run(["gcc", "-O2", "-o", str(exe)] + common, check=True)
    want = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert want.startswith("requant ") and "all " in want
    for cpu, extra in (("cortex-m0", []), ("cortex-m3", []),
                       ("cortex-m4", ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"])):
        exe = tmp_path / f"h_{cpu}"
        subprocess.run(["arm-none-eabi-gcc", "-mthumb", f"-mcpu={cpu}", *extra, "-Os", "-fno-builtin",
                        "-fno-tree-loop-distribute-patterns", "-nostdlib", "-nostartfiles", "-static",
                        "-o", str(exe), str(tmp_path / "sys.c")] + common + ["-lgcc"],
                       check=True, capture_output=True)
        # qemu-arm's user mode runs Thumb code of any M profile on an A-profile core
        got = subprocess.run(["qemu-arm", "-cpu", "cortex-a15", str(exe)], capture_output=True,
                             text=True, timeout=600).stdout
        assert got == want, (cpu, got, want)
