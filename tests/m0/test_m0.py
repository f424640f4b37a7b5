"""The C kernels (ulab_kernels/) as ARMv6-M code on an emulated Cortex-M0 (host/motes/m0/: emu.py re-exports toolchain, cpu, harness, decoders).

* every mk_* kernel on random inputs of several shapes (strides, padding,
  dilation, groups, depth multipliers, per-channel and per-tensor quantization,
  streamed output-channel chunks, NULL bias) against the host numpy reference,
  FULLY_CONNECTED / CONV_2D with interleaved weights (format 1.2, offset binary,
  whole groups of 8 per chunk; CONV_2D keeps its bias, which may be NULL,
  FULLY_CONNECTED the folded one) and row-major ones (1.1 files, groups, filter
  offsets), and the interleaved ABI's MK_ERR_ARG cases,
  element for element, with params built from a Layer that motes's own
  prepare() made (what a device passes to the kernels);
* mk_requantize against quant.multiply_by_quantized_multiplier on edge values;
* the CPU model really is a Cortex-M0: ARMv7-M SDIV / MLA fault, the same code
  runs on a Cortex-M3 model, and the static ARMv6-M check catches CBZ (which
  the emulator would let through); writes to flash or past a buffer are caught;
* `bench` on hello_world and mlperf_tiny_kws matches the reference layer by layer.

Needs arm-none-eabi-gcc (Debian gcc-arm-none-eabi) and the unicorn and pyelftools
Python packages; skipped with the reason when they are missing, except in CI,
whose set-up installs them (tests/conftest.py:missing_tool).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, missing_tool, shared_model
from motes.m0 import emu as m0emu, harness
from motes import quant
from motes.compiler import interleave

NAIVE = ROOT / "bench" / "naive_kernels.c"


@pytest.fixture(autouse=True, scope="module")
def _tools():
    missing_tool(m0emu.unavailable())   # unicorn, pyelftools, arm-none-eabi-gcc


@pytest.fixture(scope="module")
def emu(_tools):
    return m0emu.M0(m0emu.build())


def _need(emu, op):
    assert m0emu.has_kernel(emu, op), f"the armv6m image has no {m0emu.KERNEL_OPS[op]}"


def _check(emu, op, in_shape, seed, run_kw=None, **kw):
    _need(emu, op)
    rng = np.random.default_rng(seed)
    layer, x, out_shape = m0emu.synthetic_layer(op, in_shape, rng, **kw)
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape], **(run_kw or {}))
    bad = np.argwhere(got.outputs[0] != ref)
    assert bad.size == 0, (f"{op} {in_shape} {kw}: {len(bad)} of {ref.size} values differ, first at "
                           f"{tuple(bad[0])}: m0 {got.outputs[0][tuple(bad[0])]} vs reference {ref[tuple(bad[0])]}")
    assert got.instructions > 0
    return got


# ---------------------------------------------------------------------------
# kernels vs the host reference
# ---------------------------------------------------------------------------

FC_CASES = [
    ((1, 256), dict(out_ch=64)),
    ((1, 256), dict(out_ch=64, per_channel=False)),
    ((3, 40), dict(out_ch=10, act=1)),
    ((2, 33), dict(out_ch=7, act=3, per_channel=False)),
    ((1, 1), dict(out_ch=1)),
    ((4, 5), dict(out_ch=3)),
    ((1, 30), dict(out_ch=6)),          # depth 2 mod 4
    ((2, 7), dict(out_ch=5, act=1)),    # 3 mod 4: dot8's C tail only
    ((3, 35), dict(out_ch=15)),         # two groups of 8, the last one of 7
    ((2, 17), dict(out_ch=19, act=1)),  # 1 mod 4, stripes of 16 (four groups) and 3
]


@pytest.mark.parametrize("shape,kw", FC_CASES)
def test_fully_connected(emu, shape, kw):
    _check(emu, "FULLY_CONNECTED", shape, 1, **kw)


def test_fully_connected_streamed_per_tensor_null_bias(emu):
    _check(emu, "FULLY_CONNECTED", (2, 48), 2, dict(chunks=3), out_ch=20)
    _check(emu, "FULLY_CONNECTED", (1, 64), 3, dict(per_tensor_quant=True), out_ch=16, per_channel=False)
    _need(emu, "FULLY_CONNECTED")
    rng = np.random.default_rng(4)
    layer, x, out_shape = m0emu.synthetic_layer("FULLY_CONNECTED", (2, 24), rng, out_ch=9, interleaved=False)
    layer.consts["bias"] = np.zeros_like(layer.consts["bias"])
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape], bias=False)
    np.testing.assert_array_equal(got.outputs[0], ref)


CONV_CASES = [
    ((1, 8, 8, 4), dict(out_ch=6)),
    ((1, 8, 8, 4), dict(out_ch=6, stride=(2, 2))),
    ((1, 9, 7, 3), dict(out_ch=5, stride=(2, 2), padding="VALID", per_channel=False)),
    ((1, 9, 9, 4), dict(out_ch=4, dilation=(2, 2), act=1)),
    ((1, 7, 9, 4), dict(out_ch=6, padding="VALID", dilation=(2, 1), groups=2)),
    ((2, 6, 6, 6), dict(out_ch=6, groups=3, kernel=(1, 1))),
    ((1, 10, 6, 1), dict(out_ch=8, kernel=(10, 4), stride=(2, 2))),     # the KWS stem
    ((1, 12, 12, 3), dict(out_ch=8, kernel=(3, 3), stride=(2, 2), act=3)),
    ((1, 5, 5, 8), dict(out_ch=16, kernel=(1, 1))),
    ((1, 6, 5, 5), dict(out_ch=3, kernel=(5, 3), stride=(1, 2))),
    ((1, 6, 7, 8), dict(out_ch=13, kernel=(3, 3))),                     # whole window lines, 3 groups + 1
    ((1, 7, 6, 16), dict(out_ch=16, kernel=(3, 3), per_channel=False)), # the bench layer's shape of stripe
]


@pytest.mark.parametrize("shape,kw", CONV_CASES)
def test_conv(emu, shape, kw):
    _check(emu, "CONV_2D", shape, 5, **kw)


def test_conv_streamed_and_per_tensor(emu):
    _check(emu, "CONV_2D", (1, 6, 6, 4), 6, dict(chunks=3), out_ch=7)
    _check(emu, "CONV_2D", (1, 6, 6, 4), 7, dict(chunks=3), out_ch=10, groups=2)   # chunks cut groups
    _check(emu, "CONV_2D", (1, 6, 6, 4), 8, dict(per_tensor_quant=True), out_ch=5, per_channel=False)


DW_CASES = [
    ((1, 8, 8, 8), dict()),
    ((1, 9, 7, 3), dict(depth_multiplier=2, stride=(2, 1), act=1)),
    ((1, 9, 9, 4), dict(padding="VALID", dilation=(2, 2), per_channel=False)),
    ((2, 7, 7, 5), dict(stride=(2, 2), act=3)),
    ((1, 6, 6, 2), dict(kernel=(5, 5), depth_multiplier=3)),
    ((1, 25, 5, 4), dict(kernel=(3, 3))),
    ((1, 1, 1, 3), dict()),                   # 3x3 path, one output a line: the general loop
    ((1, 2, 2, 3), dict(per_channel=False)),  # lines of two outputs: one pair
    ((1, 3, 7, 2), dict(stride=(1, 2))),      # odd lines: the last pair again, shifted
    ((1, 7, 13, 2), dict(depth_multiplier=2, padding="VALID")),   # stride 1: five pairs a line, then one
    ((1, 25, 40, 2), dict(act=1)),            # stride 1, even lines: pairs only, in strips of 10 lines
    ((2, 7, 5, 8), dict(stride=(2, 2))),      # four planes a gather (the image fits a fourth of it), 2 batches
    ((1, 11, 13, 12), dict(padding="VALID", act=1)),   # four planes, three gathers of them
    ((1, 12, 16, 4), dict()),                 # four planes of 14 x 18 = 252 bytes (of 256)
    ((1, 14, 16, 4), dict()),                 # 16 x 18: one plane at a time
]


@pytest.mark.parametrize("shape,kw", DW_CASES)
def test_depthwise(emu, shape, kw):
    _check(emu, "DEPTHWISE_CONV_2D", shape, 9, **kw)


@pytest.mark.parametrize("seed", range(10))
def test_depthwise_3x3_fast_path(emu, seed):
    """The 3x3 stride 1 or 2 path (rows or columns interleaved, fused
    requantization) on random shapes, strides, depth multipliers, paddings, biases large enough
    to need the general requantization, and shifts of 0 (also the general
    path)."""
    _need(emu, "DEPTHWISE_CONV_2D")
    rng = np.random.default_rng(100 + seed)
    h, w, c = (int(v) for v in rng.integers(1, 12, 3))
    layer, x, out_shape = m0emu.synthetic_layer("DEPTHWISE_CONV_2D", (1, h, w, c), rng,
                                                padding=["SAME", "VALID"][seed % 2] if min(h, w) >= 3 else "SAME",
                                                per_channel=seed % 3 != 2, act=seed % 4 % 3,
                                                stride=[(1, 1), (2, 2), (1, 2), (2, 1), (1, 1)][seed % 5],
                                                depth_multiplier=[1, 1, 3][seed % 3])
    if seed % 2:
        layer.consts["bias"] = rng.integers(-400000, 400000, size=layer.consts["bias"].shape).astype(np.int32)
    if seed == 3:
        layer.consts["shift"] = np.zeros_like(layer.consts["shift"])
        layer.consts["multiplier"] = (layer.consts["multiplier"] // 64).astype(np.int32)
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape])
    np.testing.assert_array_equal(got.outputs[0], ref)


def test_conv_pointwise_and_offsets(emu):
    """1x1 convolutions read the input pixel in place; the input offset is
    folded into the sums (zero points -128 and 127 too)."""
    for seed, (shape, kw) in enumerate([((1, 5, 7, 12), dict(out_ch=9, kernel=(1, 1))),
                                        ((2, 4, 4, 8), dict(out_ch=70, kernel=(1, 1), groups=2)),
                                        ((1, 6, 6, 4), dict(out_ch=5, kernel=(3, 3)))]):
        _need(emu, "CONV_2D")
        rng = np.random.default_rng(200 + seed)
        layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", shape, rng, **kw)
        for ioff in (layer.params["input_offset"], 128, -127):
            layer.params["input_offset"] = ioff
            ref = m0emu.reference(layer, [x], [out_shape])[0]
            got = m0emu.run_layer(emu, layer, [x], [out_shape])
            np.testing.assert_array_equal(got.outputs[0], ref, err_msg=f"{shape} {kw} input_offset {ioff}")


@pytest.mark.parametrize("seed", range(8))
def test_pointwise_input_offset_128_one_job_over_the_pixels(emu, seed):
    """Interleaved 1x1 convolutions with input offset 128 (ARMv6-M: x + 128
    as unsigned bytes from a copy, one dot8_4 job going from pixel to pixel):
    rows the fast form leaves (shifts outside it, sums beyond +-2^19) go back
    to C mid-job, and the job goes on from the next group or pixel."""
    _need(emu, "CONV_2D")
    rng = np.random.default_rng(3000 + seed)
    ic, oc = [(8, 16), (12, 8), (16, 24), (4, 32), (32, 8), (64, 16), (8, 8), (16, 16)][seed]
    layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", (1, 5, 7, ic), rng, out_ch=oc, kernel=(1, 1),
                                                act=int(rng.choice([0, 1])), interleaved=True)
    layer.params["input_offset"] = 128
    c = layer.consts
    if seed % 2:
        for k in rng.choice(oc, 3, replace=False):
            c["shift"][k] = int(rng.choice([0, 1, -20]))
        c["bias"][int(rng.integers(0, oc))] = 1 << 20
    if seed % 4 != 2:
        # one channel's sums beyond 2^19 at about half the pixels: back to C in
        # some pixels only, after the job went on from pixel to pixel
        w = interleave.deinterleave_layer(layer).consts["weights"].reshape(oc, ic).astype(np.int64)
        dots = (x.reshape(-1, ic).astype(np.int64) + 128) @ w.T
        k = int(rng.integers(0, oc))
        c["bias"][k] = (1 << 19) - int(np.median(dots[:, k])) - 1
    # (else small sums: rq_fast without its range check)
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape])
    np.testing.assert_array_equal(got.outputs[0], ref, err_msg=f"ic {ic} oc {oc}")
    assert got.outputs[0].std() > 0


@pytest.mark.parametrize("ic, oc, k", [(256, 2, 1), (8, 10, 1), (16, 12, 3), (4, 5, 3), (32, 1, 1)])
def test_input_offset_128_with_a_last_group_of_fewer_than_8_rows(emu, ic, oc, k):
    """CONV_2D with input offset 128 and a last group of fewer than 8 rows:
    those rows take x + 128 from the same copy as the whole groups (dot8's
    unsigned mask), so no weights are summed (person_detect's 256 -> 2)."""
    _need(emu, "CONV_2D")
    rng = np.random.default_rng(4000 + ic + oc)
    layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", (1, 3, 4, ic), rng, out_ch=oc, kernel=(k, k),
                                                interleaved=True)
    layer.params["input_offset"] = 128
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape])
    np.testing.assert_array_equal(got.outputs[0], ref)
    assert ref.std() > 0


@pytest.mark.parametrize("seed", range(45))
def test_requantization_edges_in_kernels(emu, seed):
    """The kernels' fused requantization (a fast exact form for sums within
    +-2^19 and shifts -13/-22 .. -1, else the general one) at its edges:
    shifts -31 .. 3, multipliers 0 .. 2^31-1, biases on both sides of the
    limits, extreme input and output offsets."""
    rng = np.random.default_rng(1000 + seed)
    op = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"][seed % 3]
    _need(emu, op)
    if op == "FULLY_CONNECTED":
        shape, kw = (int(rng.integers(1, 4)), int(rng.integers(1, 80))), dict(out_ch=int(rng.integers(1, 40)))
    elif op == "CONV_2D":
        shape, k = (1, *(int(v) for v in rng.integers(1, 9, 3))), int(rng.choice([1, 3]))
        kw = dict(out_ch=int(rng.integers(1, 24)), kernel=(k, k), stride=(int(rng.integers(1, 3)),) * 2)
    else:
        shape = (1, int(rng.integers(1, 12)), int(rng.integers(1, 12)), int(rng.integers(1, 9)))
        kw = dict(stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))), depth_multiplier=int(rng.integers(1, 3)))
    kw.update(per_channel=bool(rng.integers(0, 2)), act=int(rng.choice([0, 1, 3])))
    layer, x, out_shape = m0emu.synthetic_layer(op, shape, rng, **kw)
    c, p = layer.consts, layer.params
    c["shift"] = rng.choice([-31, -23, -22, -14, -13, -12, -1, 0, 1, 3], size=c["shift"].shape).astype(c["shift"].dtype)
    c["multiplier"] = rng.choice([0, 1, 1 << 30, (1 << 31) - 1, 1518500250, 1073741825, 2047, 4194304],
                                 size=c["multiplier"].shape).astype(np.int32)
    c["bias"] = rng.choice([0, 230528, -230528, 230529, -230529, 1 << 20, -(1 << 20), 12345],
                           size=c["bias"].shape).astype(np.int32)
    p["output_offset"] = int(rng.choice([-128, 127, 0, 5]))
    p["input_offset"] = int(rng.choice([-127, 128, 0, 17]))
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape])
    np.testing.assert_array_equal(got.outputs[0], ref, err_msg=f"{op} {shape} {kw}")


# The shapes of real models' layers that had slow paths (issue 17), small: each
# against the host reference (TFLM's arithmetic)
SHAPE_CASES = [
    ("CONV_2D", (1, 13, 10, 1), dict(out_ch=8, kernel=(10, 8), stride=(2, 2))),   # micro_speech's stem as a conv
    ("CONV_2D", (1, 9, 9, 1), dict(out_ch=16, kernel=(3, 3), stride=(2, 2))),     # 9 taps: dot8_4 on 8, a C tail
    ("CONV_2D", (1, 7, 6, 3), dict(out_ch=12, kernel=(3, 3), act=1)),             # 27 taps, a last group of 4
    ("CONV_2D", (1, 6, 6, 8), dict(out_ch=16, kernel=(1, 1))),                    # shallow 1x1 (person_detect's 8 -> 16)
    ("CONV_2D", (1, 5, 5, 6), dict(out_ch=8, kernel=(1, 1))),                     # 1x1 of depth 6: the C loop
    ("FULLY_CONNECTED", (1, 100), dict(out_ch=12)),                               # groups of 8 and 4
    ("FULLY_CONNECTED", (1, 600), dict(out_ch=4, interleaved=False)),             # row-major, one batch: x + input_offset
    ("FULLY_CONNECTED", (2, 600), dict(out_ch=5, interleaved=False)),             # two batches: weight sums, an odd row
    ("DEPTHWISE_CONV_2D", (1, 6, 6, 16), dict()),                                 # a small plane
    ("DEPTHWISE_CONV_2D", (1, 6, 6, 8), dict(stride=(2, 2), depth_multiplier=2)), # 3x3 outputs
    ("DEPTHWISE_CONV_2D", (1, 10, 9, 3), dict(stride=(3, 3), act=3)),             # stride 3: the plane path only
    ("DEPTHWISE_CONV_2D", (1, 14, 3, 2), dict(padding="VALID")),                  # 12 x 1 outputs
    ("DEPTHWISE_CONV_2D", (1, 40, 60, 2), dict()),                                # strips of 6 lines (plane 62 wide)
    ("DEPTHWISE_CONV_2D", (1, 41, 90, 1), dict(stride=(2, 2), depth_multiplier=3)),  # strips of 2, one gather for 3
    ("DEPTHWISE_CONV_2D", (1, 4, 200, 1), dict()),                                # too wide for a plane: the general loop
    ("AVERAGE_POOL_2D", (1, 5, 5, 70), dict(kernel=(5, 5), padding="VALID")),     # global, 70 channels
    ("AVERAGE_POOL_2D", (1, 25, 5, 64), dict(kernel=(25, 5), padding="VALID")),   # global, kws's
    ("AVERAGE_POOL_2D", (1, 16, 16, 8), dict(kernel=(16, 16), padding="VALID")),  # global, 256 pixels
    ("AVERAGE_POOL_2D", (2, 17, 16, 4), dict(kernel=(17, 16), padding="VALID")),  # two batches of 272
    ("AVERAGE_POOL_2D", (1, 7, 6, 67), dict(kernel=(3, 3), stride=(2, 2))),       # clipped windows
]


@pytest.mark.parametrize("op,shape,kw", SHAPE_CASES)
def test_real_model_shapes(emu, op, shape, kw):
    _check(emu, op, shape, 12, **kw)


def test_depthwise_of_one_channel_as_conv(emu):
    """ops.depthwise_conv.as_conv: a multiplier on a 1-channel input as the
    CONV_2D it is gives the depthwise layer's numbers, on the host and in the
    M0's conv kernel (interleaved as the converter writes it); 3x3 windows and
    inputs of more channels stay depthwise."""
    from motes.compiler import interleave
    from motes.ops.depthwise_conv import as_conv
    rng = np.random.default_rng(14)
    layer, x, out_shape = m0emu.synthetic_layer("DEPTHWISE_CONV_2D", (1, 12, 9, 1), rng, kernel=(5, 4),
                                                stride=(2, 1), depth_multiplier=8)
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    conv = as_conv(layer, 1)
    assert conv.op == "CONV_2D" and conv.consts["weights"].shape == (8, 5, 4, 1)
    np.testing.assert_array_equal(m0emu.reference(conv, [x], [out_shape])[0], ref)
    assert interleave.why_not(conv, 1) is None
    got = m0emu.run_layer(emu, interleave.interleave_layer(conv), [x], [out_shape])
    np.testing.assert_array_equal(got.outputs[0], ref)
    three, _, _ = m0emu.synthetic_layer("DEPTHWISE_CONV_2D", (1, 6, 6, 1), rng, depth_multiplier=8)
    two, _, _ = m0emu.synthetic_layer("DEPTHWISE_CONV_2D", (1, 6, 6, 2), rng, kernel=(5, 4), depth_multiplier=4)
    assert as_conv(three, 1) is None and as_conv(two, 2) is None


def test_conv_of_the_whole_input_as_fc(emu):
    """ops.conv.as_fc: a CONV_2D whose window is its whole input as the
    FULLY_CONNECTED it is gives the convolution's numbers, on the host and in
    the M0's FC kernel (interleaved as the converter writes it: person_detect's
    256 -> 2 head, a last group of 2 rows, and a 3x3 window over a 3x3 input);
    a padded window, a smaller window and a grouped convolution stay convolutions."""
    from motes.compiler import interleave
    from motes.ops.conv import as_fc
    rng = np.random.default_rng(28)
    for shape, kw in (((1, 1, 1, 256), dict(out_ch=2, kernel=(1, 1), in_zp=-128)),
                      ((2, 3, 3, 16), dict(out_ch=5, kernel=(3, 3), padding="VALID")),
                      ((1, 1, 1, 33), dict(out_ch=7, kernel=(1, 1), stride=(2, 2)))):
        layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", shape, rng, interleaved=False, **kw)
        ref = m0emu.reference(layer, [x], [out_shape])[0]
        fc = as_fc(layer, x.shape, out_shape)
        assert fc.op == "FULLY_CONNECTED" and fc.consts["weights"].shape == (kw["out_ch"], int(np.prod(shape[1:])))
        np.testing.assert_array_equal(m0emu.reference(fc, [x], [out_shape])[0], ref)
        assert interleave.why_not(fc) is None
        got = m0emu.run_layer(emu, interleave.interleave_layer(fc), [x], [out_shape])
        np.testing.assert_array_equal(got.outputs[0], ref)
    for shape, kw in (((1, 3, 3, 8), dict(out_ch=4, kernel=(3, 3))),          # SAME: padded, 3x3 outputs
                      ((1, 4, 4, 8), dict(out_ch=4, kernel=(3, 3), padding="VALID")),
                      ((1, 1, 1, 8), dict(out_ch=4, kernel=(1, 1), groups=2))):
        layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", shape, rng, **kw)
        assert as_fc(layer, x.shape, out_shape) is None


def test_short_groups_of_unsigned_inputs(emu):
    """dot2_4's unsigned form: the last group of fewer than 8 rows of a
    convolution whose input offset is 128 (x + 128 as unsigned bytes, when
    its patch is whole words)."""
    rng = np.random.default_rng(24)
    for shape, kw in (((1, 5, 5, 12), dict(out_ch=6, kernel=(1, 1))),
                      ((1, 4, 4, 8), dict(out_ch=3, kernel=(1, 1), stride=(2, 2))),
                      ((1, 6, 5, 4), dict(out_ch=13, kernel=(3, 3)))):
        layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", shape, rng, in_zp=-128, **kw)
        assert layer.params["input_offset"] == 128
        got = m0emu.run_layer(emu, layer, [x], [out_shape])
        np.testing.assert_array_equal(got.outputs[0], m0emu.reference(layer, [x], [out_shape])[0])


def test_depthwise_per_tensor_count_one(emu):
    _check(emu, "DEPTHWISE_CONV_2D", (1, 6, 6, 6), 10, dict(per_tensor_quant=True), per_channel=False)


POOL_CASES = [
    ((1, 8, 8, 4), dict(kernel=(2, 2), stride=(2, 2), padding="VALID")),
    ((1, 9, 7, 5), dict(kernel=(3, 3), stride=(2, 2))),         # SAME: clipped windows
    ((1, 9, 7, 5), dict(kernel=(3, 3), stride=(1, 1), act=1)),
    ((2, 5, 6, 3), dict(kernel=(4, 2), stride=(3, 1))),
    ((1, 25, 5, 8), dict(kernel=(25, 5), stride=(1, 1), padding="VALID")),   # global average (KWS)
]


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("shape,kw", POOL_CASES)
def test_pool(emu, op, shape, kw):
    _check(emu, op, shape, 11, **kw)


def _elementwise_layer(op, shape1, shape2, out_shape, rng, const2=False, act=0):
    from motes import ops
    from motes.compiler.graph import Graph, Operator, Tensor
    f32 = lambda v: np.array([v], np.float32)  # noqa: E731
    i64 = lambda v: np.array([v], np.int64)    # noqa: E731
    x1 = rng.integers(-128, 128, size=shape1, dtype=np.int8)
    x2 = rng.integers(-128, 128, size=shape2, dtype=np.int8)
    tensors = [Tensor(0, "a", shape1, "int8", f32(rng.uniform(0.01, 0.1)), i64(rng.integers(-30, 30))),
               Tensor(1, "b", shape2, "int8", f32(rng.uniform(0.01, 0.1)), i64(rng.integers(-30, 30)),
                      data=x2 if const2 else None),
               Tensor(2, "y", out_shape, "int8", f32(rng.uniform(0.02, 0.2) * (4 if op == "MUL" else 1)),
                      i64(rng.integers(-10, 10)))]
    oper = Operator(0, op, [0, 1], [2], {"fused_activation_function": act})
    layer = ops.prepare_layer(oper, Graph("e", tensors, [oper], [0], [2]))
    return layer, ([x1] if const2 else [x1, x2])


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("shapes", [((1, 4, 4, 8), (1, 4, 4, 8), (1, 4, 4, 8), False),
                                    ((1, 4, 4, 8), (8,), (1, 4, 4, 8), True),
                                    ((2, 1, 3), (1, 5, 1), (2, 5, 3), False),
                                    ((3, 1), (1, 1, 4), (1, 3, 4), True)])
def test_elementwise(emu, op, shapes):
    _need(emu, op)
    rng = np.random.default_rng(14)
    s1, s2, so, const2 = shapes
    layer, ins = _elementwise_layer(op, s1, s2, so, rng, const2, act=1 if op == "ADD" else 0)
    ref = m0emu.reference(layer, ins, [so])[0]
    got = m0emu.run_layer(emu, layer, ins, [so])
    np.testing.assert_array_equal(got.outputs[0], ref)


@pytest.mark.parametrize("seed", range(4))
def test_add_sub_of_one_shape(emu, seed):
    """ADD / SUB of two tensors of one shape take add_same (elementwise_s8.c:
    the inputs' requantization in 16-bit limb products): every pair of int8
    values, random scales and zero points, against the host reference."""
    _need(emu, "ADD")
    rng = np.random.default_rng(100 + seed)
    for op in ("ADD", "SUB"):
        layer, ins = _elementwise_layer(op, (1, 256, 256), (1, 256, 256), (1, 256, 256), rng, act=seed % 2)
        a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
        ins = [a.astype(np.int8).reshape(1, 256, 256), b.astype(np.int8).reshape(1, 256, 256)]
        ref = m0emu.reference(layer, ins, [(1, 256, 256)])[0]
        got = m0emu.run_layer(emu, layer, ins, [(1, 256, 256)])
        np.testing.assert_array_equal(got.outputs[0], ref)


UNARY_CASES = [   # op, input shape, kernel= (MEAN: the axes)
    ("SOFTMAX", (1, 2), None), ("SOFTMAX", (1, 12), None), ("SOFTMAX", (3, 5, 10), None),
    ("SOFTMAX", (1, 300), None), ("SOFTMAX", (2, 1), None),
    ("LOGISTIC", (1, 40), None), ("LOGISTIC", (2, 9, 33), None), ("TANH", (1, 40), None),
    ("TANH", (4, 100), None),
    ("MEAN", (1, 6, 6, 16), (1, 2)), ("MEAN", (2, 5, 3, 4), (3,)), ("MEAN", (1, 4, 7, 3), (0, 2)),
    ("MEAN", (3, 4, 5), (0, 1, 2)), ("MEAN", (1, 9, 9, 8), (1,)),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("op,shape,axes", UNARY_CASES)
def test_unary_ops(emu, op, shape, axes, seed):
    """SOFTMAX, LOGISTIC, TANH, MEAN with random input scales (beta, output scale):
    every int8 input value in the larger cases (LOGISTIC / TANH above 256 values
    take the C kernel's table path)."""
    kw = {"kernel": axes} if axes else {}
    got = _check(emu, op, shape, seed, **kw)
    assert got.calls == 1


def test_softmax_sum_wrapping_to_zero(emu):
    """8192 equal values: the row's sum of exps (8192 * 2^19) wraps to 0 in int32,
    as in TFLM; the reciprocal of 0 takes gemmlowp's other rounding of (a + 1) / 2."""
    layer, x, out_shape = m0emu.synthetic_layer("SOFTMAX", (1, 8192), np.random.default_rng(1))
    x[...] = 5
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    assert np.array_equal(m0emu.run_layer(emu, layer, [x], [out_shape]).outputs[0], ref)


def _codec_arrays(rng):
    lap = lambda n, b: np.clip(np.round(rng.laplace(0, b, n)), -128, 127).astype(np.int8)  # noqa: E731
    sparse = lap(3000, 20)
    sparse[rng.random(sparse.size) < 0.7] = 0
    return {
        "laplace": lap(5000, 10),
        "uniform (8-bit codes)": rng.integers(-128, 128, 3000).astype(np.int8),
        "skewed (12-bit codes)": np.concatenate([np.zeros(4000, np.int8), lap(300, 60)]),
        "sparse": sparse,
        "one symbol": np.full(100, -7, np.int8),
        "two symbols": rng.choice(np.array([3, -3], np.int8), 777),
        "single value": np.array([5], np.int8),
    }


@pytest.mark.parametrize("codec", [1, 2])
def test_entropy_decoders(emu, codec):
    from motes import codecs
    name = {1: "mk_huff_decode", 2: "mk_zrun_decode"}[codec]
    assert emu.has(name), f"no {name} in the armv6m image (huffman.c)"
    fn = {1: m0emu.huffman_decode, 2: m0emu.zerorun_decode}[codec]
    c = codecs.by_id(codec)
    rng = np.random.default_rng(15)
    for label, vals in _codec_arrays(rng).items():
        payload = c.encode(vals)
        for chunk, piece in ((None, None), (64, 100), (3, 7), (1, 1000)):
            r = fn(emu, payload, vals.size, chunk=chunk, out_piece=piece)
            bad = np.flatnonzero(r.values.view(np.int8) != vals)
            assert bad.size == 0, (f"codec {codec} {label} (chunk {chunk}, piece {piece}): {bad.size} of "
                                   f"{vals.size} values differ, first at {bad[0]}")


def test_huffman_rejects_corrupt_table(emu):
    assert emu.has("mk_huff_table_build")
    emu.reset()
    t, used = emu.alloc(m0emu.HUFF_TABLE_BYTES), emu.alloc(4)
    # SET past 12, Kraft not 1: MK_ERR_DATA; cut short: MK_ERR_SHORT
    for bad, want in ((b"\x01\xff\xff", -3), (b"\x05\x00\x00\x00", -3), (b"\x01", -4), (b"\x05\xff", -4)):
        data = emu.put(bad, const=True)
        st, _ = emu.call("mk_huff_table_build", t, data, len(bad), 1, used)
        assert st == want, (bad, st)


def test_requantize_edges(emu):
    assert emu.has("mk_requantize")
    rng = np.random.default_rng(12)
    xs = [0, 1, -1, 2, -2, 127, -128, 1 << 20, -(1 << 20), quant.INT32_MAX, quant.INT32_MIN,
          quant.INT32_MAX - 1, quant.INT32_MIN + 1, *rng.integers(-(1 << 31), 1 << 31, 40).tolist(),
          *rng.integers(-70000, 70000, 40).tolist()]
    cases = []
    for m in (1 << 30, (1 << 31) - 1, 1518500250, 1073741825, *rng.integers(1 << 30, 1 << 31, 3).tolist()):
        for s in (-31, -20, -9, -1, 0, 1, 5, 12, 30, 31):
            cases += [(x, m, s) for x in xs[:: 1 + (abs(s) % 3)]]
    cases += [(quant.INT32_MIN, quant.INT32_MIN, 0)]   # the one saturating case
    for x, m, s in cases:
        got, _ = emu.call("mk_requantize", x, m, s)
        want = int(quant.multiply_by_quantized_multiplier(np.int64(x), np.int64(m), np.int64(s)))
        assert got == want, f"mk_requantize({x}, {m}, {s}) = {got}, reference {want}"


def test_kernels_are_armv6m_and_self_contained(emu):
    img = emu.image
    assert img.not_armv6m == [], "non-ARMv6-M instructions in the image:\n" + "\n".join(img.not_armv6m[:20])
    assert img.libgcc_helpers == [], (f"the kernels call libgcc helpers {img.libgcc_helpers}: the natmod "
                                      "build cannot link libgcc (avoid /, %, and 64-bit multiplies)")
    assert img.external == [], f"the kernels need symbols from outside: {img.external} (no libc in a natmod)"


def test_natmod_flags_build(emu):
    """The code a board runs: the armv6m native module's flags (-mcpu=cortex-m0 -Os -fpic ...)."""
    img = m0emu.build(m0emu.default_sources(), cpu=m0emu.NATMOD_CPU, extra_cflags=m0emu.NATMOD_CFLAGS)
    assert img.not_armv6m == [] and img.external == [], (img.not_armv6m[:10], img.external)
    m0 = m0emu.M0(img)
    for op, shape, kw in (("FULLY_CONNECTED", (2, 40), dict(out_ch=10)),
                          ("CONV_2D", (1, 7, 7, 4), dict(out_ch=6, stride=(2, 2), groups=2)),
                          ("DEPTHWISE_CONV_2D", (1, 7, 6, 3), dict(depth_multiplier=2)),
                          ("DEPTHWISE_CONV_2D", (1, 9, 6, 5), dict()),
                          ("DEPTHWISE_CONV_2D", (1, 9, 6, 5), dict(stride=(2, 2))),
                          ("CONV_2D", (1, 6, 5, 8), dict(out_ch=7, kernel=(1, 1))),
                          ("AVERAGE_POOL_2D", (1, 9, 7, 5), dict(kernel=(3, 3), stride=(2, 2))),
                          ("MAX_POOL_2D", (1, 9, 7, 5), dict(kernel=(3, 3), stride=(2, 2)))):
        if not m0emu.has_kernel(m0, op):
            continue
        _check(m0, op, shape, 16, **kw)
    if m0.has("mk_huff_decode"):
        from motes import codecs
        vals = np.random.default_rng(17).integers(-20, 20, 2000).astype(np.int8)
        r = m0emu.huffman_decode(m0, codecs.by_id(1).encode(vals), vals.size, chunk=50)
        np.testing.assert_array_equal(r.values.view(np.int8), vals)


# ---------------------------------------------------------------------------
# the harness itself: naive kernels, CPU model, memory protection
# ---------------------------------------------------------------------------

def test_naive_kernels_match():
    """The harness's calling convention, checked with the bench's own naive kernels."""
    emu = m0emu.M0(m0emu.build([NAIVE]))
    rng = np.random.default_rng(13)
    for op, shape, kw in (("FULLY_CONNECTED", (2, 30), dict(out_ch=7)),
                          ("CONV_2D", (1, 7, 7, 4), dict(out_ch=6, stride=(2, 2), groups=2)),
                          ("DEPTHWISE_CONV_2D", (1, 7, 6, 3), dict(depth_multiplier=2))):
        layer, x, out_shape = m0emu.synthetic_layer(op, shape, rng, **kw)
        got = m0emu.run_layer(emu, layer, [x], [out_shape], prefix="naive_", chunks=2)
        np.testing.assert_array_equal(got.outputs[0], m0emu.reference(layer, [x], [out_shape])[0])


NON_M0_SRC = r"""
int divide(int a, int b) { return a / b; }
int mla(int a, int b, int c) { return a * b + c; }
int first_or_zero(const int *p) { if (p) return p[0] + 1; return 0; }
"""

POKE_SRC = r"""
void poke(int *p) { *p = 0x1234; }
void fill(char *p, int n) { for (int i = 0; i <= n; i++) p[i] = 1; }   /* one past the end */
int spin(int n) { volatile int k = 0; while (n) { k++; } return k; }
"""


@pytest.fixture(scope="module")
def csrc(tmp_path_factory):
    d = tmp_path_factory.mktemp("m0src")
    (d / "nonm0.c").write_text(NON_M0_SRC)
    (d / "poke.c").write_text(POKE_SRC)
    return d


def test_armv7m_instructions_fault_on_the_m0_model(csrc):
    img = m0emu.build([csrc / "nonm0.c"], cpu="cortex-m3")
    dis = (img.elf.parent / "image.dis").read_text()
    assert "sdiv" in dis and "mla" in dis
    m0 = m0emu.M0(img)
    for fn, args in (("divide", (100, 7)), ("mla", (3, 4, 5))):
        with pytest.raises(m0emu.M0Fault) as e:
            m0.call(fn, *args)
        assert "INSN_INVALID" in e.value.kind and fn in str(e.value)
    # the same code runs on a Cortex-M3 model: the fault is the CPU model's doing
    m3 = m0emu.M0(img, cpu_model="cortex-m3")
    assert m3.call("divide", 100, 7)[0] == 14
    assert m3.call("mla", 3, 4, 5)[0] == 17
    # CBZ/CBNZ and IT are not caught by the emulator's M0 model; the static check catches them
    assert any(("cbz" in ln or "cbnz" in ln) for ln in img.not_armv6m), img.not_armv6m


def test_same_code_for_m0plus_uses_libgcc(csrc):
    img = m0emu.build([csrc / "nonm0.c"])
    assert img.libgcc_helpers == ["__aeabi_idiv"]
    assert img.not_armv6m == []
    m0 = m0emu.M0(img)
    assert m0.call("divide", 100, 7)[0] == 14
    assert m0.call("divide", -100, 7)[0] == -14
    assert m0.call("mla", 3, 4, 5)[0] == 17


def test_memory_protection(csrc):
    m0 = m0emu.M0(m0emu.build([csrc / "poke.c"]), timeout_s=0.5)
    ro = m0.put(np.zeros(4, np.int32), const=True)
    with pytest.raises(m0emu.M0Fault, match="WRITE_PROT"):
        m0.call("poke", ro)
    m0.reset()
    buf = m0.alloc(10)
    with pytest.raises(m0emu.M0Fault, match="outside its buffers"):
        m0.call("fill", buf, 10)
    m0.reset()
    buf = m0.alloc(11)
    assert m0.call("fill", buf, 10)[1] > 10
    with pytest.raises(m0emu.M0Fault, match="did not return"):
        m0.call("spin", 1)


# ---------------------------------------------------------------------------
# whole models
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hello_world_int8", "mlperf_tiny_kws_ref_model"])
def test_bench_model_matches_reference(emu, name):
    from motes import api
    from motes.m0 import bench as bench_m0
    data = api.convert(shared_model(name)).data
    res = bench_m0.bench(data, emu=emu)
    bad = [r for r in res["layers"] if r["backend"] == "m0" and not r["exact"]]
    assert not bad, f"{name}: layers differ from the reference: {bad}"
    emulated = {r["op"] for r in res["layers"] if r["backend"] == "m0"}
    assert "FULLY_CONNECTED" in emulated
    if name.startswith("mlperf"):
        assert {"CONV_2D", "DEPTHWISE_CONV_2D"} <= emulated
    assert res["exact"] and res["instructions"] > res["macs_emulated"] > 0
    assert res["instructions_per_mac"] == pytest.approx(res["instructions"] / res["macs_emulated"], rel=1e-3)
    # a RESHAPE on its input's bytes is no work on a board (counted as 0); every op
    # with a kernel has its best case, and the layers above 2x it are listed
    if name.startswith("mlperf"):
        assert [r["backend"] for r in res["layers"] if r["op"] == "RESHAPE"] == ["alias"]
        assert "SOFTMAX" in emulated
    # every layer runs on the M0 (SOFTMAX too: no "python" rows); the ops with
    # MACs have a best case (SOFTMAX has none: no instructions per MAC)
    assert res["host_ops"] == []
    assert {r["op"] for r in res["layers"] if r["backend"] == "m0" and r["macs"]} <= set(res["best"])
    # a layer is slow against the best of its op on comparable sizes (MACs per
    # output within SIZE_FACTOR), which is never better than the op's best
    for r in res["layers"]:
        v = r["instructions_per_mac"]
        if v is not None:
            c = res["compared"][r["index"]]
            assert c["instructions_per_mac"] >= res["best"][r["op"]]["instructions_per_mac"]
            assert c["instructions_per_mac"] <= v
            assert (r["index"] in res["slow"]) == (v > bench_m0.SLOW_FACTOR * c["instructions_per_mac"])
    by_case = {f"layer {r['index']}": r for r in res["layers"]}
    for i, c in res["compared"].items():
        r = by_case.get(c["case"])
        if r is not None:
            n = bench_m0.per_output(res["layers"][i]["macs"], res["layers"][i]["elements"])
            assert bench_m0.comparable(n, bench_m0.per_output(r["macs"], r["elements"]))


def test_bench_cli(emu, capsys):
    from motes.m0 import bench as bench_m0
    assert bench_m0.main([str(shared_model("hello_world_int8")), "--isa", "armv6m", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"instructions", "macs", "instructions_per_mac", "layers"} <= set(res)
    assert bench_m0.main([str(shared_model("hello_world_int8"))]) == 0
    assert "instructions/MAC" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# interleaved weights (format 1.2): groups of 8 output channels, offset binary
# ---------------------------------------------------------------------------

def _interleaved(op, in_shape, seed, ioff=None, **kw):
    """A synthetic layer, its input offset set to ioff, then interleaved as the converter would."""
    from motes.compiler import interleave
    rng = np.random.default_rng(seed)
    layer, x, out_shape = m0emu.synthetic_layer(op, in_shape, rng, interleaved=False, **kw)
    if ioff is not None:
        layer.params["input_offset"] = ioff
    return interleave.interleave_layer(layer), x, out_shape


def _exact(emu, layer, x, out_shape, **run_kw):
    ref = m0emu.reference(layer, [x], [out_shape])[0]
    got = m0emu.run_layer(emu, layer, [x], [out_shape], **run_kw)
    bad = np.argwhere(got.outputs[0] != ref)
    assert bad.size == 0, f"{len(bad)} of {ref.size} values differ, first at {tuple(bad[0])}"
    return got


IL_FC_CASES = [   # in shape, out, per channel, act, input offset, chunks
    ((1, 256), 64, True, 0, None, 1),
    ((1, 16), 1, True, 0, None, 1),
    ((2, 13), 3, False, 1, -128, 1),
    ((1, 7), 9, True, 3, 127, 1),
    ((3, 37), 17, True, 0, None, 3),
    ((1, 4), 8, False, 0, 128, 1),
    ((2, 1), 17, True, 1, -127, 2),
    ((1, 130), 24, True, 0, None, 3),
    ((5, 64), 33, False, 3, 0, 5),
]


@pytest.mark.parametrize("shape,out,pc,act,ioff,chunks", IL_FC_CASES)
def test_interleaved_fully_connected(emu, shape, out, pc, act, ioff, chunks):
    _need(emu, "FULLY_CONNECTED")
    layer, x, out_shape = _interleaved("FULLY_CONNECTED", shape, out + shape[-1], ioff, out_ch=out,
                                       per_channel=pc, act=act)
    assert layer.interleaved
    _exact(emu, layer, x, out_shape, chunks=chunks, per_tensor_quant=not pc)


@pytest.mark.parametrize("seed", range(10))
def test_interleaved_fully_connected_requant_edges(emu, seed):
    """The prepared table (m0emu.rq_table, as the device runtime makes it) and
    the requantization in dot8_4's tail / rq_fast: channels outside the fast
    form (shift 0 or above, below -13, multiplier 0), sums beyond +-2^19
    (big biases), clamps on both sides; whole groups of 8 with depth a
    multiple of 4 (the asm path) and partial groups or odd depths (C)."""
    from motes.compiler import interleave
    _need(emu, "FULLY_CONNECTED")
    rng = np.random.default_rng(3000 + seed)
    depth = int(rng.choice([4, 8, 36, 64, 7, 13]))
    out = int(rng.choice([8, 16, 24, 5, 19]))
    layer, x, out_shape = m0emu.synthetic_layer("FULLY_CONNECTED", (int(rng.integers(1, 3)), depth), rng,
                                                out_ch=out, interleaved=False, per_channel=True,
                                                act=int(rng.choice([0, 1, 3])))
    c, p = layer.consts, layer.params
    n = c["shift"].shape
    c["shift"] = rng.choice([-31, -14, -13, -12, -9, -1, 0, 1, 3], size=n).astype(c["shift"].dtype)
    c["multiplier"] = rng.choice([0, 1, 1 << 30, (1 << 31) - 1, 1518500250, 1073741825, 2047],
                                 size=n).astype(np.int32)
    c["bias"] = rng.choice([0, 524287 - 4000, -524288 + 4000, 524288, -524289, 1 << 24, -(1 << 24), 12345],
                           size=c["bias"].shape).astype(np.int32)
    p["output_offset"] = int(rng.choice([-128, 127, 0, 5]))
    p["input_offset"] = int(rng.choice([-127, 128, 0, 17]))
    layer = interleave.interleave_layer(layer)
    assert layer.interleaved
    _exact(emu, layer, x, out_shape, chunks=int(rng.choice([1, 2])))


@pytest.mark.parametrize("seed", range(6))
def test_conv_group_job_resumes_after_a_slow_channel(emu, seed):
    """A 1x1 convolution's whole groups are one dot8_4 job per pixel (il_vectors):
    channels outside the fast form or sums beyond +-2^19 in any group (the
    job stops there, C finishes that group, the job goes on from the next),
    with 32 or 40 outputs (a last group of 8 and one of the C forms), stride 1
    (the flat path) and 2 (one pixel at a time)."""
    _need(emu, "CONV_2D")
    rng = np.random.default_rng(4000 + seed)
    out = [32, 40, 24][seed % 3]
    layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", (1, 4, 5, 8 + 4 * (seed % 2)), rng, out_ch=out,
                                                kernel=(1, 1), stride=(1 + seed // 3,) * 2, per_channel=True,
                                                act=int(rng.choice([0, 1, 3])))
    assert layer.interleaved
    c = layer.consts
    n = c["shift"].shape
    slow = rng.random(n) < 0.15
    c["shift"] = np.where(slow, rng.choice([0, -14, 1], size=n), c["shift"]).astype(c["shift"].dtype)
    c["bias"] = np.where(rng.random(c["bias"].shape) < 0.1, 1 << 20, c["bias"]).astype(np.int32)
    _exact(emu, layer, x, out_shape)


def test_rq_table_flags_channels_outside_the_fast_form():
    t = m0emu.rq_table([1 << 30, 1 << 30, -5, (1 << 31) - 1], [-1, 0, -3, -13], output_offset=3, act_min=-128)
    assert t.shape == (4, m0emu.RQ_WORDS) and t.dtype == np.int32
    m = (1 << 31) - 1
    assert t[3].tolist() == [m & 0x7FF, (m >> 11) & 0x7FF, m >> 22, (1 << 21) + 256 + 131 * (1 << 22), 22]
    assert t[1].tolist() == t[2].tolist() == [0, 0, 0, 1 << 30, 0]
    assert t[0, 4] == 10


IL_CONV_CASES = [   # in shape, out, options, input offset, chunks
    ((1, 16, 16, 16), 16, dict(), None, 1),
    ((1, 6, 6, 3), 9, dict(), 128, 1),          # input zero point -128
    ((1, 7, 5, 5), 17, dict(stride=(2, 2), padding="VALID"), 127, 3),
    ((2, 8, 8, 4), 3, dict(kernel=(1, 1)), None, 1),
    ((1, 5, 5, 8), 1, dict(kernel=(1, 1), stride=(2, 1)), 128, 1),
    ((1, 9, 9, 2), 12, dict(dilation=(2, 2)), -127, 2),
    ((1, 6, 7, 6), 8, dict(kernel=(3, 2), stride=(1, 2), act=1), 0, 1),
    ((1, 5, 5, 3), 24, dict(kernel=(5, 5), act=3, per_channel=False), None, 3),
    # 1x1, stride 1, unpadded, shallow: conv_s8's matrix product over pixels (pixels_il)
    ((1, 9, 7, 8), 16, dict(kernel=(1, 1), act=3), None, 1),   # person_detect's #2, smaller
    ((2, 5, 6, 4), 17, dict(kernel=(1, 1)), 128, 2),          # a partial group (C), two batches
    ((1, 4, 5, 12), 24, dict(kernel=(1, 1), per_channel=False), -127, 3),
]


@pytest.mark.parametrize("shape,out,kw,ioff,chunks", IL_CONV_CASES)
def test_interleaved_conv(emu, shape, out, kw, ioff, chunks):
    _need(emu, "CONV_2D")
    layer, x, out_shape = _interleaved("CONV_2D", shape, out + shape[-1], ioff, out_ch=out, **kw)
    assert layer.interleaved
    _exact(emu, layer, x, out_shape, chunks=chunks)


IL_CONV_EXTREME = [   # in shape, out, options, input offset, weights ("min", "max", "mixed"), bias
    ((1, 6, 6, 3), 9, dict(), 128, "min", True),
    ((1, 6, 6, 3), 9, dict(), -127, "max", True),
    ((1, 5, 5, 8), 16, dict(), 128, "max", False),
    ((1, 5, 5, 8), 16, dict(), -127, "min", False),
    ((1, 7, 7, 4), 12, dict(stride=(2, 2)), 128, "mixed", False),
    ((2, 4, 4, 16), 11, dict(kernel=(1, 1)), -127, "mixed", True),
    ((1, 5, 5, 8), 17, dict(kernel=(1, 1), padding="VALID"), 128, "min", False),
    ((1, 6, 5, 8), 16, dict(kernel=(1, 1)), 128, "max", True),   # (pixels_il, rq_rows after dot8_4)
    ((2, 3, 4, 4), 8, dict(kernel=(1, 1)), -127, "min", False),
]


@pytest.mark.parametrize("shape,out,kw,ioff,wk,with_bias", IL_CONV_EXTREME)
def test_interleaved_conv_bias_and_extremes(emu, shape, out, kw, ioff, wk, with_bias):
    """Interleaved CONV_2D keeps TFLite's bias (no folding): the kernel works out
    input_offset * sum(w) itself, from offset-binary bytes; NULL bias allowed;
    input zero points at both ends, the weight sums at their extremes."""
    from motes.compiler import interleave
    _need(emu, "CONV_2D")
    rng = np.random.default_rng(out * 7 + shape[-1])
    layer, x, out_shape = m0emu.synthetic_layer("CONV_2D", shape, rng, interleaved=False, out_ch=out, **kw)
    layer.params["input_offset"] = ioff
    w = layer.consts["weights"]
    if wk == "mixed":
        layer.consts["weights"] = rng.choice(np.array([-128, 127], np.int8), size=w.shape).astype(np.int8)
    else:
        layer.consts["weights"] = np.full(w.shape, -128 if wk == "min" else 127, np.int8)
    if not with_bias:
        layer.consts["bias"] = np.zeros_like(layer.consts["bias"])
    layer = interleave.interleave_layer(layer)
    assert layer.interleaved and not interleave.folds_bias("CONV_2D")
    for chunks in (1, 2):
        _exact(emu, layer, x, out_shape, chunks=chunks, bias=with_bias)


def test_row_major_still_exact(emu):
    # 1.1 files, grouped convolutions, FULLY_CONNECTED with a filter offset
    for seed, (op, shape, kw) in enumerate([
            ("FULLY_CONNECTED", (2, 37), dict(out_ch=11)),
            ("CONV_2D", (1, 6, 6, 4), dict(out_ch=9)),
            ("CONV_2D", (1, 6, 6, 4), dict(out_ch=6, groups=2)),
            ("CONV_2D", (1, 5, 5, 8), dict(out_ch=5, kernel=(1, 1)))]):
        layer, x, out_shape = m0emu.synthetic_layer(op, shape, np.random.default_rng(seed), interleaved=False, **kw)
        _exact(emu, layer, x, out_shape, chunks=2)
    layer, x, out_shape = m0emu.synthetic_layer("FULLY_CONNECTED", (3, 21), np.random.default_rng(9),
                                                out_ch=7, interleaved=False)
    for foff in (-128, 5, 127):
        layer.params["filter_offset"] = foff
        _exact(emu, layer, x, out_shape)


def test_interleaved_bad_args(emu, monkeypatch):
    layer, x, out_shape = _interleaved("FULLY_CONNECTED", (1, 24), 1, out_ch=20)
    with pytest.raises(m0emu.M0Fault, match="ERR_ARG"):      # NULL bias (FULLY_CONNECTED's is folded)
        m0emu.run_layer(emu, layer, [x], [out_shape], bias=False)
    with pytest.raises(m0emu.M0Fault, match="ERR_ARG"):      # no prepared requantization table
        m0emu.run_layer(emu, layer, [x], [out_shape], prepared=False)
    layer.params["filter_offset"] = 1
    with pytest.raises(m0emu.M0Fault, match="ERR_ARG"):      # a filter offset
        m0emu.run_layer(emu, layer, [x], [out_shape])
    layer.params["filter_offset"] = 0
    conv, cx, c_shape = _interleaved("CONV_2D", (1, 5, 5, 4), 2, out_ch=20)
    monkeypatch.setattr(harness, "_group_chunks", m0emu._chunks)   # chunks not at groups of 8 (where run_layer looks)
    for lay, xx, shp in ((layer, x, out_shape), (conv, cx, c_shape)):
        with pytest.raises(m0emu.M0Fault, match="ERR_ARG"):
            m0emu.run_layer(emu, lay, [xx], [shp], chunks=3)
