"""The viper kernels (device/motes/k_viper.py) against the host reference.

* 32-bit safety of the requantization: the code between the "rq:begin" /
  "rq:end" markers of k_viper.py (every copy, if several) is run as written on
  numpy int32 words (wrapping machine arithmetic, millions of random, edge and
  rounding-tie cases) and with a plain-Python 32-bit word type that wraps with
  & 0xFFFFFFFF and counts every result that left the int32 range (must be
  none), against host quant.multiply_by_quantized_multiplier; then compiled in
  a viper function and run in the unix port. The bias sign extension and the
  average pool's division are checked the same way;
* k_viper.py compiles with mpy-cross for ESP32 (xtensawin), RP2040 (armv6m)
  and ESP32-C3 (rv32imc), and a few more;
* in the MicroPython unix port with backend='viper': the four shared models
  (resident and streaming, 2-3 inputs) and every op-coverage model with a
  FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D / pool layer (per-channel and
  per-tensor, resident and streaming) give exactly the host executor's int8
  outputs; no layer of the shared models falls back to Python; speed-up vs the
  Python backend is printed (pytest -s);
* edited layers: left shifts, right shifts of 31 and more, a zero multiplier,
  a filter offset (row-major FC only), and a bias so big that the layer falls
  back to the Python kernel, with the converter's interleaved layers (format
  1.2) and without.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED, SHARED_MODELS, shared_model
from motes import api, quant
from motes.run import mpy_engine
from motes import format as mote_format
from motes.board.device_build import mpy_cross
from motes.run.executor import Executor
from tests import opmodels

SOURCE = mpy_engine.DEVICE_DIR / "motes" / "k_viper.py"
TARGET_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"}
MODES = ("resident", "streaming")
# source=True compiles k_viper.py (and huff.py) in the heap: ~50K more than the
# .mpy build needs (x64 words; about half on a 32-bit board)
HEAPS = {"hello_world_int8": "128K", "micro_speech_quantized": "160K",
         "mlperf_tiny_kws_ref_model": "256K", "person_detect": "1M"}
# the .mpy build (mpy-cross -march=x64, as a board loads it): test_device_bitexact's heaps
MPY_HEAPS = {"hello_world_int8": "64K", "micro_speech_quantized": "128K",
             "mlperf_tiny_kws_ref_model": "256K", "person_detect": "1M"}
LIM = 1 << 30          # k_viper runs a layer only if |accumulator| < 2^30


def _source() -> str:
    return SOURCE.read_text()


def rq_block() -> str:
    """The requantization code of k_viper.py (all copies must be the same)."""
    blocks = re.findall(r"# rq:begin\n(.*?)\n[ \t]*# rq:end", _source(), re.S)
    assert blocks, "no rq block in k_viper.py"
    texts = {textwrap.dedent(body) for body in blocks}
    assert len(texts) == 1, "the copies of the rq block differ"
    return texts.pop()


def _prep(m: int, shift: int) -> tuple[int, int, int]:
    """k_viper._rq's per-channel rule: (multiplier, left shift, right shift)."""
    if shift > 0:
        return m, shift, 0
    if shift < -30:
        return 0, 0, 0
    return m, 0, -shift


# ---------------------------------------------------------------------------
# requantization on 32-bit words
# ---------------------------------------------------------------------------

def _cases(n_random: int, seed: int):
    """(x, multiplier, shift) int64 arrays: edges, rounding ties, random; |x << left| < 2^30."""
    rng = np.random.default_rng(seed)
    xs_edge = [0, 1, -1, 2, -2, 3, LIM - 1, -(LIM - 1), LIM - 2, -(LIM - 2), 0x7FFF, 0x8000, -0x8000,
               0xFFFF, 0x10000, -0x10000, 0x7FFFFF, -0x800000]
    xs_edge += [s * ((1 << k) + d) for k in range(1, 30) for d in (-1, 0, 1) for s in (1, -1)]
    ms_edge = [0, 1 << 30, (1 << 30) + 1, (1 << 31) - 1, (1 << 31) - 2, 3 << 29, (1 << 30) + 0xFFFF,
               (1 << 30) | 0x8000, (1 << 30) + (1 << 16), 0x7FFF0000, 0x7FFFFFFF - 0x8000]
    shifts_edge = list(range(-40, 1)) + [1, 2, 5]
    grid = np.array([(x, m, s) for x in xs_edge for m in ms_edge for s in shifts_edge], dtype=np.int64)
    # random: uniform, log-uniform magnitudes (like real accumulators), ties of the high multiply
    x = rng.integers(-(LIM - 1), LIM, size=n_random)
    mag = np.floor(2.0 ** rng.uniform(0, 30, size=n_random)).astype(np.int64)
    x = np.where(rng.random(n_random) < 0.5, x, mag * rng.choice([-1, 1], size=n_random))
    m = rng.integers(1 << 30, 1 << 31, size=n_random)
    m = np.where(rng.random(n_random) < 0.1, (m >> 20) << 20, m)          # many ties of x*m + 2^30
    s = rng.integers(-31, 1, size=n_random)
    s = np.where(rng.random(n_random) < 0.05, rng.integers(1, 8, size=n_random), s)
    s = np.where(rng.random(n_random) < 0.02, rng.integers(-45, -30, size=n_random), s)
    rand = np.stack([x, m, s], axis=1)
    allc = np.concatenate([grid, rand])
    x, m, s = allc[:, 0], allc[:, 1], allc[:, 2]
    ok = np.abs(x << np.maximum(s, 0)) < LIM        # the layers k_viper runs
    return x[ok], m[ok], s[ok]


def _reference(x, m, s):
    return quant.multiply_by_quantized_multiplier(x, m, s)


def _run_block_numpy(code, x, m, s, dtype):
    mm, ls, e = (np.array(v, dtype=np.int64) for v in zip(*(_prep(int(a), int(b)) for a, b in zip(m, s))))
    ns = {"acc": (x << ls).astype(dtype), "m": mm.astype(dtype), "e": e.astype(dtype)}
    exec(code, {}, ns)
    return ns["r"].astype(np.int64)


def test_requant_block_on_int32_words_numpy():
    """The rq block as written, on numpy int32 (wrapping 32-bit words): millions of cases."""
    code = compile(rq_block(), "rq", "exec")
    total = 0
    for seed in range(4):
        x, m, s = _cases(1_000_000, seed)
        got = _run_block_numpy(code, x, m, s, np.int32)
        want = _reference(x, m, s)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, [(int(x[i]), int(m[i]), int(s[i]), int(got[i]), int(want[i])) for i in bad[:5]]
        # 64-bit words (the unix port) give the same
        assert np.array_equal(_run_block_numpy(code, x, m, s, np.int64), got)
        total += x.size
    assert total > 4_000_000


class W32:
    """A 32-bit machine word in plain Python: every result wraps with & 0xFFFFFFFF."""
    __slots__ = ("v",)
    overflows = 0

    def __init__(self, v):
        self.v = v

    @staticmethod
    def _w(v):
        if not -0x80000000 <= v <= 0x7FFFFFFF:
            W32.overflows += 1
        v &= 0xFFFFFFFF
        return W32(v - 0x100000000 if v & 0x80000000 else v)

    def _op(fn):  # noqa: N805
        def f(a, b):
            return W32._w(fn(a.v, b.v if isinstance(b, W32) else b))

        def rf(a, b):
            return W32._w(fn(b, a.v))
        return f, rf

    __add__, __radd__ = _op(lambda a, b: a + b)
    __sub__, __rsub__ = _op(lambda a, b: a - b)
    __mul__, __rmul__ = _op(lambda a, b: a * b)
    __and__, __rand__ = _op(lambda a, b: a & b)
    __or__, __ror__ = _op(lambda a, b: a | b)
    __xor__, __rxor__ = _op(lambda a, b: a ^ b)
    __lshift__, __rlshift__ = _op(lambda a, b: a << (b & 31))
    __rshift__, __rrshift__ = _op(lambda a, b: a >> (b & 31))
    del _op


def test_requant_block_plain_python_32bit_wrapping():
    """The rq block as written, with every value a wrapped 32-bit word: no result
    ever leaves int32 (so 32- and 64-bit ports agree) and all match the host."""
    code = compile(rq_block(), "rq", "exec")
    x, m, s = _cases(120_000, 99)
    want = _reference(x, m, s)
    W32.overflows = 0
    bad = []
    for xi, mi, si, wi in zip(x.tolist(), m.tolist(), s.tolist(), want.tolist()):
        mm, ls, e = _prep(mi, si)
        ns = {"acc": W32(xi << ls), "m": W32(mm), "e": W32(e)}
        exec(code, {}, ns)
        if ns["r"].v != wi:
            bad.append((xi, mi, si, ns["r"].v, wi))
    assert not bad, bad[:5]
    assert W32.overflows == 0
    assert len(x) > 150_000


def test_bias_sign_extension():
    """ptr32 loads zero-extend on 64-bit ports; the bias is sign-extended by hand."""
    expr = "(((bh ^ 0x8000) - 0x8000) << 16) | (bo & 0xFFFF)"
    assert _source().count(expr) >= 1
    rng = np.random.default_rng(5)
    b = np.concatenate([rng.integers(-(1 << 31), 1 << 31, size=200_000),
                        [0, 1, -1, 0x7FFF, 0x8000, -0x8000, 0xFFFF, -0x10000, LIM - 1, -LIM, (1 << 31) - 1,
                         -(1 << 31)]])
    for word in (b.astype(np.int32), (b & 0xFFFFFFFF).astype(np.int64)):   # 32-bit port, x64 port
        bo = word
        bh = (bo >> 16) & 0xFFFF
        assert np.array_equal(eval(expr).astype(np.int64), b)


def test_avg_pool_division():
    """The viper average's division (between "div:begin"/"div:end") against k_pool's
    (v + n//2) // n, -((n//2 - v) // n): every window sum for n <= 40, samples to n = 1024."""
    blocks = re.findall(r"# div:begin\n(.*?)\n[ \t]*# div:end", _source(), re.S)
    assert len(blocks) == 1
    code = compile(textwrap.dedent(blocks[0]), "div", "exec")
    rng = np.random.default_rng(8)
    checked = 0
    for n in range(1, 1025):
        lo, hi = -128 * n, 127 * n
        vs = range(lo, hi + 1) if n <= 40 else \
            [lo, lo + 1, hi, hi - 1, 0, 1, -1] + [int(v) for v in rng.integers(lo, hi + 1, size=300)]
        h = n >> 1
        for v in vs:
            ns = {"v": v, "n": n}
            exec(code, {}, ns)
            want = (v + h) // n if v > 0 else -((h - v) // n)
            assert ns["v"] == want, (v, n, ns["v"], want)
            assert ns["u"] < (n << 8) and (n << 7) < LIM
            checked += 1
    assert checked > 400_000


def test_requant_block_compiled_viper_unix_port():
    """The same block compiled by viper and run in the unix port."""
    x, m, s = _cases(60_000, 123)
    want = _reference(x, m, s).tolist()
    prep = [_prep(int(a), int(b)) for a, b in zip(m, s)]
    acc = [int(xi) << p[1] for xi, p in zip(x, prep)]
    body = textwrap.indent(rq_block(), " " * 8)
    script = f"""
import micropython, json
from array import array

@micropython.viper
def run(X, M, E, R: ptr32):
    n = int(len(X))
    for i in range(n):
        acc = int(X[i])
        m = int(M[i])
        e = int(E[i])
{body}
        R[i] = r

d = json.load(open({{path!r}}))
R = array("i", bytes(4 * len(d[0])))
run(d[0], d[1], d[2], R)
print(json.dumps(list(R)))
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.json"
        path.write_text(json.dumps([acc, [p[0] for p in prep], [p[2] for p in prep]]))
        (Path(tmp) / "t.py").write_text(script.replace("{path!r}", repr(str(path))))
        proc = subprocess.run([mpy_engine.micropython_path(), "-X", "heapsize=64M", str(Path(tmp) / "t.py")],
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    bad = [(a, b, c, g, w) for a, b, c, g, w in zip(x.tolist(), m.tolist(), s.tolist(), got, want) if g != w]
    assert not bad, bad[:5]


# ---------------------------------------------------------------------------
# compiles for the boards
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["xtensawin", "armv6m", "rv32imc", "xtensa", "armv7emsp", "x64"])
def test_mpy_cross_compiles(arch, tmp_path):
    out = tmp_path / "k_viper.mpy"
    proc = subprocess.run([mpy_cross(), f"-march={arch}", "-o", str(out), str(SOURCE)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000


# ---------------------------------------------------------------------------
# whole models in the unix port
# ---------------------------------------------------------------------------

def _inputs(data: bytes, n: int, seed: int) -> list[np.ndarray]:
    model = mote_format.from_bytes(data)
    shape = model.tensors[model.inputs[0]].shape
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


def _host(data: bytes, xs) -> list[np.ndarray]:
    ex = Executor(mote_format.from_bytes(data))
    return [ex.run([x])[0].ravel() for x in xs]


def _run(data: bytes, xs, mode: str, heap: str, backend: str = "viper", source: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.mote"
        path.write_bytes(data)
        return mpy_engine.run(path, xs, heap=heap, mode=mode, backend=backend, source=source, measure=False)


def check_viper(data: bytes, xs, modes=MODES, heap: str = "512K") -> dict:
    want = _host(data, xs)
    report = {}
    for mode in modes:
        info = _run(data, xs, mode, heap)
        assert info["backend"] == "viper" and info["mode"] == mode
        got = info["outputs"]
        assert len(got) == len(xs)
        bad = sum(int(np.count_nonzero(g.ravel() != w)) for g, w in zip(got, want))
        assert bad == 0, (f"{mode}: {bad} int8 outputs differ\n device {[g.tolist() for g in got]}\n"
                          f" host   {[w.tolist() for w in want]}")
        report[mode] = info
    return report


_FALLBACKS = r"""
import gc
import motes
from motes import kernels, k_viper
kernels.use("viper")
net = motes.load({path!r}, mode="resident", verbose=False)
x = bytearray(net.tensor(net.inputs[0]).n)
y = net.predict_int8(x)
print(motes.backend(), k_viper.fallbacks, list(y))
"""


def _fallbacks(data: bytes, heap: str) -> tuple[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.mote"
        path.write_bytes(data)
        proc = mpy_engine.run_code(_FALLBACKS.format(path=str(path)), heap=heap, source=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    backend, n = proc.stdout.split()[:2]
    return backend, int(n)


def _ms(info) -> float:
    return min(info["us_per_inference"]) / 1000


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_shared_model_viper(name):
    data = api.convert(shared_model(name)).data
    xs = _inputs(data, 2, seed=len(name))
    if name == "person_detect":
        raw = SHARED / "testdata" / "person_detection" / "person_96x96_u8_topdown.raw"
        xs.append(np.frombuffer(raw.read_bytes(), dtype=np.int8).reshape(xs[0].shape))
    else:
        xs.append(_inputs(data, 1, seed=7)[0])
    report = check_viper(data, xs, heap=HEAPS[name])
    if name == "person_detect":
        assert report["resident"]["outputs"][-1].tolist() == [-113, 113]     # TFLM: person
    assert _fallbacks(data, HEAPS[name]) == ("viper", 0)   # every FC/CONV/DW/pool layer ran in viper
    py = _run(data, xs[:1], "resident", HEAPS[name], backend="python")
    assert py["backend"] == "python"
    line = f"{name}: python {_ms(py):.2f} ms"
    for mode, info in report.items():
        line += f", viper {mode} {_ms(info):.2f} ms"
    line += f"; resident speed-up x{_ms(py) / _ms(report['resident']):.1f}"
    print(line)
    if name != "hello_world_int8":       # hello_world is 3 tiny layers: call overhead
        assert _ms(report["resident"]) * 4 < _ms(py)


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_shared_model_viper_mpy_build(name):
    """The .mpy build (viper compiled to x64 machine code by mpy-cross) in a board-like heap."""
    data = api.convert(shared_model(name)).data
    xs = _inputs(data, 1, seed=21)
    info = _run(data, xs, "resident", MPY_HEAPS[name], source=False)
    assert info["backend"] == "viper"
    assert np.array_equal(info["outputs"][0].ravel(), _host(data, xs)[0])


OPMODELS = sorted(n for n in opmodels.SPECS if n != "softmax_scaled")   # softmax_scaled: none of the ops


@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("name", OPMODELS)
def test_opmodel_viper(name, per_channel, opmodel_cache):
    conv = api.convert(opmodels.build(name, opmodel_cache, per_channel=per_channel))
    assert {L.op for L in conv.model.layers} & TARGET_OPS
    check_viper(conv.data, _inputs(conv.data, 2, seed=sum(map(ord, name)) + per_channel))


def test_opmodels_cover_the_kernel_paths(opmodel_cache):
    """Grouped conv, the 1x1 path, strided/dilated/padded conv, depth multipliers, both pools."""
    seen = set()
    for name in OPMODELS:
        model = api.convert(opmodels.build(name, opmodel_cache, per_channel=True)).model
        for L in model.layers:
            p = L.params
            if L.op == "CONV_2D":
                oc, kh, kw, fd = L.consts["weights"].shape
                ic = model.tensors[L.inputs[0]].shape[-1]
                seen.add("grouped" if fd < ic else "conv")
                if kh == kw == 1 and fd == ic and p["stride_h"] == p["stride_w"] == 1:
                    seen.add("1x1")
                if max(p["dilation_h"], p["dilation_w"]) > 1:
                    seen.add("dilated")
                if p["pad_h"] or p["pad_w"]:
                    seen.add("padded")
            elif L.op == "DEPTHWISE_CONV_2D":
                seen.add(f"dm{p['depth_multiplier']}")
            elif L.op in TARGET_OPS:
                seen.add(L.op)
    assert {"grouped", "conv", "1x1", "dilated", "padded", "dm1", "dm2", "dm3", "FULLY_CONNECTED",
            "AVERAGE_POOL_2D", "MAX_POOL_2D"} <= seen, seen


# ---------------------------------------------------------------------------
# edited quantization: left shifts, big right shifts, zero multipliers, a filter
# offset, and a layer that must fall back to the Python kernel
# ---------------------------------------------------------------------------

def _edit(model: mote_format.MoteModel, huge_bias: bool) -> int:
    rng = np.random.default_rng(17)
    shifts = [3, 1, 0, -1, -5, -9, -30, -31, -33, -40, 2, -12]
    n = 0
    for L in model.layers:
        if L.op not in ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        c = L.consts
        oc = c["weights"].shape[0] if L.op != "DEPTHWISE_CONV_2D" else c["weights"].shape[-1]
        mult = rng.integers(1 << 30, 1 << 31, size=oc).astype(np.int32)
        mult[oc // 2] = 0
        c["multiplier"] = mult
        c["shift"] = np.array([shifts[i % len(shifts)] for i in range(oc)], dtype=np.int32)
        if "bias" in c:
            c["bias"] = (c["bias"].astype(np.int64) >> 4).astype(np.int32)   # keep left shifts in range
        if L.op == "FULLY_CONNECTED" and not L.interleaved:   # format 1.2: interleaved FC has none
            L.params["filter_offset"] = 5
        if huge_bias and n == 0:
            b = c.get("bias")
            b = np.zeros(oc, np.int32) if b is None else b.copy()
            b[0] = LIM - 7     # bound >= 2^30: this layer runs in the Python kernel
            c["bias"] = b
        n += 1
    model.packed = [mote_format.pack_consts(L) for L in model.layers]
    return n


@pytest.mark.parametrize("interleave", [True, False], ids=["interleaved", "row_major"])
@pytest.mark.parametrize("name", ["fc_mlp", "conv_c8", "dwconv", "conv_grouped", "dwconv_mult"])
def test_edited_quantization(name, interleave, opmodel_cache):
    for huge_bias in (False, True):
        model = api.convert(opmodels.build(name, opmodel_cache, per_channel=True), interleave=interleave).model
        assert any(L.interleaved for L in model.layers) == (interleave and name in ("fc_mlp", "conv_c8", "dwconv"))
        assert _edit(model, huge_bias)
        data = mote_format.to_bytes(model)
        check_viper(data, _inputs(data, 2, seed=3))
        backend, fallbacks = _fallbacks(data, "512K")
        assert backend == "viper" and fallbacks == (1 if huge_bias else 0)
