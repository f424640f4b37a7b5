"""The device runtime at the REPL, in the real MicroPython unix port: loading,
errors a user can act on, predict/classify/trace/summary, modes and memory."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from conftest import shared_model, shared_mote
from motes import api
from motes.run import mpy_engine
from motes.format import HEADER


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("device")
    hello = api.convert(shared_model("hello_world_int8"), meta={"labels": ["sine"]})
    (d / "hello.mote").write_bytes(hello.data)
    speech = api.convert(shared_model("micro_speech_quantized"),
                         meta={"labels": ["silence", "unknown", "yes", "no"]})
    (d / "speech.mote").write_bytes(speech.data)
    (d / "person.mote").write_bytes(api.convert(shared_model("person_detect")).data)
    (d / "junk.mote").write_bytes(b"this is not a model at all")
    bad_crc = bytearray(hello.data)
    bad_crc[-1] ^= 0x55
    (d / "badcrc.mote").write_bytes(bytes(bad_crc))
    newer = bytearray(hello.data)
    newer[4] = 9
    newer[5] = 0        # minor version 0: the message names version 9.0
    (d / "newer.mote").write_bytes(bytes(newer))
    (d / "short.mote").write_bytes(hello.data[:-10])
    return d, hello, speech


def run(code, heap="256K", cwd=None):
    proc = mpy_engine.run_code(code, heap=heap, cwd=cwd)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("name,message", [
    ("junk.mote", "not a .mote file"),
    ("badcrc.mote", "CRC mismatch"),
    ("newer.mote", "format version 9.0"),
    ("short.mote", "truncated"),
    ("missing.mote", "copy the .mote file to the board first"),
])
def test_load_errors_are_clear(files, name, message):
    d = files[0]
    code, out = run(f"""
import motes
try:
    motes.load({str(d / name)!r})
except (motes.MoteError, OSError) as e:
    print("ERR", e)
""")
    assert code == 0, out
    assert "ERR" in out and message in out, out


def test_predict_classify_and_printing(files):
    d, hello, _ = files
    x = 1.5
    _, ref = api.run(hello.model, np.array([x], np.float32))
    code, out = run(f"""
import motes
net = motes.load({str(d / 'hello.mote')!r}, mode="resident")
print(net)
y = net.predict([{x}])
print("Y", y[0])
buf = bytearray(1)
net.predict_int8(bytes([5]), buf)
print("Q", buf[0])
print("C", net.classify([{x}]))
net.summary()
net.trace([{x}])
net.input_buffer()[0] = 5
print("TN", net.trace(None) == net.trace(bytes([5])))   # None: the input buffer as it is
print("M", net.memory()["mode"])
print("B", motes.backend())
try:
    net.predict([1.0, 2.0])
except ValueError as e:
    print("E", e)
""")
    assert code == 0, out
    assert "<motes.Net hello_world_int8: 3 layers, input 1x1, output 1x1" in out
    y = float(out.split("Y ")[1].split()[0])
    assert abs(y - float(ref.ravel()[0])) < 1e-6
    q_ref, _ = api.run(hello.model, np.array([5], np.int8))
    assert int(out.split("Q ")[1].split()[0]) == int(q_ref.ravel()[0]) & 0xFF
    assert "C ('sine'," in out
    assert out.count("FULLY_CONNECTED") >= 12         # summary + 3 traces
    assert out.count("FULLY_CONNECTED/il") >= 12      # format 1.2: the converter interleaved them
    assert ", 3 interleaved" in out
    assert "TN True" in out
    assert "M resident" in out
    backend = out.split("B ")[1].split()[0]
    assert backend in ("native", "viper", "python")
    assert f"{backend} backend" in out          # print(net) names it too
    assert "E input has 2 values; the model wants 1" in out


def test_a_model_with_two_outputs_gives_each(tmp_path, opmodel_cache):
    # predict gives output 0; net.output_int8(k) / net.output(k) the others of
    # the last inference, and print(net) says there are more
    from tests import opmodels
    from motes.run.executor import Executor
    conv = api.convert(opmodels.build("fc_two_heads", opmodel_cache))
    path = tmp_path / "two.mote"
    path.write_bytes(conv.data)
    x = (np.arange(16) * 13 % 256 - 128).astype(np.int8)
    want = [o.ravel().tolist() for o in Executor(conv.model).run([x])]
    t1 = conv.model.tensors[conv.model.outputs[1]]
    code, out = run(f"""
import motes
net = motes.load({str(path)!r}, verbose=False)
print(net)
print("Y0", list(net.predict_int8({x.tolist()!r}, [0] * {len(want[0])})))
print("Y1", list(net.output_int8(1, [0] * {len(want[1])})))
print("F1", net.output(1))
try:
    net.output(2)
except IndexError:
    print("E2")
""")
    assert code == 0, out
    assert "and 1 more (net.output(k))" in out, out
    assert f"Y0 {want[0]}" in out and f"Y1 {want[1]}" in out, (out, want)
    f1 = eval(out.split("F1 ")[1].splitlines()[0])
    np.testing.assert_allclose(f1, (np.array(want[1]) - t1.zero_point) * t1.scale, rtol=1e-6)
    assert "E2" in out


def test_auto_mode_says_what_it_chose(files):
    d = files[0]
    code, out = run(f"""
import motes
for name in ("person.mote", "speech.mote"):
    net = motes.load({str(d)!r} + "/" + name)
    print("MODE", name, net.mode)
""", heap="256K")
    assert code == 0, out
    # person_detect's 288 KB of decoded constants cannot be resident in a 256 KB heap
    assert "motes: streaming mode (resident needs 287906 bytes" in out and "MODE person.mote streaming" in out
    assert "motes: resident mode (resident needs" in out and "MODE speech.mote resident" in out


def test_memory_error_names_the_need_and_the_fix(files):
    d = files[0]
    code, out = run(f"""
import motes
try:
    motes.load({str(d / 'speech.mote')!r}, mode="resident")
except MemoryError as e:
    print("ERR", e)
""", heap="52K")
    assert code == 0, out
    assert "ERR" in out and "resident mode needs about 22693 bytes" in out and "mode='streaming'" in out, out


def test_arena_that_cannot_fit_is_explained(files):
    d = files[0]
    code, out = run(f"""
import motes
try:
    motes.load({str(d / 'person.mote')!r}, mode="streaming")
except MemoryError as e:
    print("ERR", e)
""", heap="72K")     # room for the kernel and decoder modules (derive.py too), not for the arena
    assert code == 0, out
    assert "the activation arena needs 55296 bytes in one piece" in out, out


def test_streaming_equals_resident(files):
    d, _, speech = files
    rng = np.random.default_rng(3)
    xs = [rng.integers(-128, 128, 1960, dtype=np.int8) for _ in range(2)]
    res = mpy_engine.run(d / "speech.mote", xs, heap="256K", mode="resident")
    stream = mpy_engine.run(d / "speech.mote", xs, heap="256K", mode="streaming")
    for a, b in zip(res["outputs"], stream["outputs"]):
        np.testing.assert_array_equal(a, b)
    # streaming holds one layer's constants at a time: far less than all of
    # them on a model with many (micro_speech's 17 KB are about what the
    # decoders' code and the chunk buffer take)
    x = [rng.integers(-128, 128, 96 * 96, dtype=np.int8)]
    res = mpy_engine.run(d / "person.mote", x, heap="1M", mode="resident")
    stream = mpy_engine.run(d / "person.mote", x, heap="1M", mode="streaming")
    np.testing.assert_array_equal(res["outputs"][0], stream["outputs"][0])
    assert stream["peak_heap_bytes"] < res["peak_heap_bytes"] // 2


def test_resident_mode_makes_the_layers_once_where_ram_allows(files):
    # hold.calls() (end of a resident load) makes every Tensor and each layer's
    # Layer once, if 6 KB stay free beside them: the inferences take them from
    # there and give the same outputs; with less free, nothing is kept and the
    # inferences make them as before
    d = files[0]
    code, out = run(f"""
import motes, gc
mote = {str(d / 'speech.mote')!r}
net = motes.load(mote, mode="resident", verbose=False)
def outs(net):
    x = net.input_buffer()
    r = []
    for seed in (1, 2, 1):
        for i in range(len(x)):
            x[i] = (i * seed * 37) & 0xFF
        r.append(list(net.predict_int8(None)))
    return r
kept = outs(net)
print("KEPT", net.layer(1) is net.layer(1), net.tensor(0) is net.tensor(0))
print("SAME", kept[0] == kept[2], kept[0] != kept[1])
del net.layer, net.tensor             # Net's methods again
from motes import hold
hold.calls(net, 1 << 20)             # less than that margin free: nothing kept
print("NONE", net.layer(1) is net.layer(1), outs(net) == kept)
""", heap="256K")
    assert code == 0, out
    assert "KEPT True True" in out and "SAME True True" in out, out
    assert "NONE False True" in out, out


@pytest.mark.parametrize("backend", ["native", "viper"])
def test_resident_mode_replays_the_kernel_calls(files, backend):
    # replay.py: from the second inference on, a resident net makes the kernel
    # calls the first one recorded, and no op function runs; the outputs stay
    # the host's. A probe (or a trace) runs the layers as before, and with
    # less than the margin free after the recording nothing is kept
    d, _, speech = files
    xs = [(np.arange(1960) * seed * 37 % 256).astype(np.uint8).view(np.int8) for seed in (1, 2, 3, 1)]
    want = [api.run(speech.model, x)[0].ravel().tolist() for x in xs]
    code, out = run(f"""
import motes
motes.kernels.use({backend!r})
net = motes.load({str(d / 'speech.mote')!r}, mode="resident", verbose=False)
calls = [0]
def counting(f):
    def g(*a):
        calls[0] += 1
        return f(*a)
    return g
def outs(net, seeds=(1, 2, 3, 1)):
    x = net.input_buffer()
    r = []
    for seed in seeds:
        for i in range(len(x)):
            x[i] = (i * seed * 37) & 0xFF
        r.append(list(v - 256 if v > 127 else v for v in net.predict_int8(None)))
    return r
fns = net._fns
first = outs(net, (1,))                  # recorded
net._fns = [counting(f) for f in fns]    # Net._run's calls from now on counted
print("OUT", first + outs(net, (2, 3, 1)))
print("AGAIN", outs(net) == outs(net), calls[0], len(fns))
net.probe = lambda: None
outs(net)
print("PROBED", calls[0])
net.probe = None
from motes import replay
del net._run
net._fns = fns
replay.install(net, 1 << 20)             # less than that margin free after the recording
outs(net, (1,))
net._fns = [counting(f) for f in fns]
calls[0] = 0
print("NONE", outs(net) == outs(net), calls[0])
""", heap="256K")
    assert code == 0, out
    got = eval(out.split("OUT ")[1].splitlines()[0])
    assert got == want, (got, want)
    n = int(out.split("AGAIN ")[1].split()[2])
    assert n == 4 and "AGAIN True 0 4" in out, out
    assert f"PROBED {4 * n}" in out, out
    assert f"NONE True {8 * n}" in out, out


# streaming mode at a fixed heap, bit-exact with the host executor (itself
# checked against tflite-micro in test_bitexact.py). Issue #3 asks for 48K, 64K
# and 128K (64-bit unix port).
# - runtime imported from the filesystem (stock firmware): its bytecode is in
#   the heap. bench/device.py measured micro_speech 69K native / 64K python, kws
#   80K / 79K, person_detect 127K / 125K: these heaps leave room for the GC's
#   first-fit layout, which makes the smallest heap not quite monotonic
#   (docs/DEVICE.md, RAM).
# - runtime in ROMFS (firmware built with ROMFS, emulated by motes.romfs): the
#   targets themselves.
# person_detect: 136K. Its smallest heap here is about 124K, but with the arena
# made first (net.py step 0, for the boards) the reader's bytecode, which this
# port loads into the heap, leaves holes above it, and a per-inference
# allocation of the constants rebuilt in streaming mode may find no 1 KB piece
# at 128K (it depends on the length of the file's path). The emulated boards
# (test_boards.py, runtime in ROMFS) are the truth for RAM.
STREAMING_HEAPS = {"micro_speech_quantized": "80K", "mlperf_tiny_kws_ref_model": "90K",
                   "person_detect": "136K"}
# (micro_speech: 52K. Issue #3's 48K target was for this 64-bit port; at 48K
# streaming mode has no room to prepare the constants here and rebuilding them
# per inference runs out of 272-byte pieces. Issue #12 moved the RAM figures to
# the emulated M3 board, where micro_speech runs in 51K native, 39K viper:
# test_boards.py.)
# (mlperf_tiny_kws, native, ROMFS: whether a heap is enough is not monotonic
# there: with issue #14's verifier, in 512-byte steps from 60K, it runs at
# 63.5K, 64.5K and from 65.5K on, not at 64K; before, at 64K, 65K and from
# 65.5K on. 66K runs with both.)
TARGET_HEAPS = {"micro_speech_quantized": "52K", "mlperf_tiny_kws_ref_model": "66K",
                "person_detect": "128K"}


def _streams_exactly(tmp_path, name, backend, heap, rom):
    path, xs, refs = shared_mote(tmp_path, name, n=2)
    info = mpy_engine.run(path, xs, heap=heap, mode="streaming", backend=backend, measure=False, rom=rom)
    assert info["backend"] == backend and info["mode"] == "streaming"
    for ref, out in zip(refs, info["outputs"]):
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("backend", ["native", "python"])
@pytest.mark.parametrize("name", sorted(STREAMING_HEAPS))
def test_streaming_runs_in_a_small_heap(tmp_path, name, backend):
    _streams_exactly(tmp_path, name, backend, STREAMING_HEAPS[name], rom=False)


@pytest.mark.parametrize("backend", ["native", "python"])
@pytest.mark.parametrize("name", sorted(TARGET_HEAPS))
def test_streaming_runs_in_the_target_heap_from_romfs(tmp_path, name, backend):
    _streams_exactly(tmp_path, name, backend, TARGET_HEAPS[name], rom=True)


def test_op_table_on_the_board():
    # the one-string op table (optable.py) gives every op's params and
    # constants as the host's table does, and None for an unknown id
    from motes import format as F, ops
    by_id = {op_id: name for name, op_id in ops.OP_IDS.items() if name in ops.OPS}
    ids = list(range(max(by_id) + 3))
    code, out = run("from motes.optable import spec\nprint([spec(i) for i in %r])" % ids)
    assert code == 0, out
    got = eval(out)
    for i, g in zip(ids, got):
        if i not in by_id:
            assert g is None
            continue
        mod = ops.OPS[by_id[i]]
        assert g == ("".join(F.param_kind(p) for p in mod.PARAMS), len(mod.CONSTS))


def test_format_1_1_layout(files, tmp_path):
    # chained layers and implied [C] shapes (docs/FORMAT.md, format 1.1) read
    # like their 1.0 layout
    from motes import format as F
    # (micro_speech without interleaved layers: its 1-channel stem, written as a
    # CONV_2D, would be interleaved, which the 1.0 layout cannot hold)
    model = F.from_bytes(api.convert(shared_model("micro_speech_quantized"), interleave=False).data, decode=False)
    model.minor = 0             # the same constants in the 1.0 layout
    (tmp_path / "v10.mote").write_bytes(F.to_bytes(model))
    model.minor = 1
    data = F.to_bytes(model)
    assert data[5] == 1 and len(data) < (tmp_path / "v10.mote").stat().st_size
    (tmp_path / "v11.mote").write_bytes(data)
    xs = [np.random.default_rng(4).integers(-128, 128, 1960, dtype=np.int8)]
    for mode in ("streaming", "resident"):
        a = mpy_engine.run(tmp_path / "v10.mote", xs, heap="256K", mode=mode, measure=False)
        b = mpy_engine.run(tmp_path / "v11.mote", xs, heap="256K", mode=mode, measure=False)
        np.testing.assert_array_equal(a["outputs"][0], b["outputs"][0])


def test_float_input_quantized_like_tflm(files):
    """predict() quantizes floats as TFLM does (float32 division, halves away from
    zero), also where a double division would land on the other side of a half."""
    d, hello, _ = files
    t = hello.model.tensors[hello.model.inputs[0]]
    s = np.float32(t.scale)
    halves = (np.arange(-20, 20, dtype=np.float32) + np.float32(0.5)) * s
    xs = np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)),
                         np.nextafter(halves, np.float32(-np.inf)),
                         np.random.default_rng(7).uniform(-7, 7, 200).astype(np.float32)])
    code, out = run(f"""
import motes
net = motes.load({str(d / 'hello.mote')!r}, verbose=False)
buf = net.input_buffer()
got = []
for x in {[float(v) for v in xs]!r}:
    net._set_input_float([x])
    got.append(buf[0] - 256 if buf[0] > 127 else buf[0])
print("Q", got)
""")
    assert code == 0, out
    got = eval(out.split("Q ")[1].strip())
    assert got == api.quantize_input(xs, t.scale, t.zero_point).tolist()


def _bad_interleaved_files(d):
    """Files that break format 1.2's rules for interleaved layers (docs/FORMAT.md):
    {name: (path, what the message must say)}."""
    from motes import format as F
    from motes.compiler.interleave import interleave_layer
    from motes.ops.base import Layer
    T = F.TensorInfo
    rng = np.random.default_rng(1)
    fc_params = dict(input_offset=3, filter_offset=0, output_offset=0, act_min=-128, act_max=127)
    fc_consts = dict(weights=rng.integers(-127, 128, (6, 10)).astype(np.int8),
                     bias=rng.integers(-999, 999, 6).astype(np.int32),
                     multiplier=np.array([1 << 30], np.int32), shift=np.array([-8], np.int8))

    def fc(**edit):
        layer = interleave_layer(Layer("FULLY_CONNECTED", [0], [1], params=dict(fc_params),
                                       consts=dict(fc_consts)))
        for k, v in edit.items():
            if k == "filter_offset":
                layer.params[k] = v
            elif v is None:
                del layer.consts[k]
            else:
                layer.consts[k] = v
        return [T((1, 10), "int8", 0.1, -3, 0), T((1, 6), "int8", 0.1, 0, 16)], layer, 32

    def conv(**edit):       # interleaved CONV_2D: the bias is optional, TFLite's (not folded)
        tensors = [T((1, 4, 4, 3), "int8", 0.1, 0, 0), T((1, 4, 4, 5), "int8", 0.1, 0, 48)]
        layer = interleave_layer(Layer("CONV_2D", [0], [1], params=dict(
            stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=1, pad_w=1, input_offset=7,
            output_offset=0, act_min=-128, act_max=127), consts=dict(
            weights=rng.integers(-127, 128, (5, 3, 3, 3)).astype(np.int8),
            bias=rng.integers(-999, 999, 5).astype(np.int32), multiplier=np.array([1 << 30], np.int32),
            shift=np.array([-8], np.int8))))
        for k, v in edit.items():
            if v is None:
                del layer.consts[k]
            else:
                layer.consts[k] = v
        return tensors, layer, 128

    def conv_grouped():
        tensors = [T((1, 4, 4, 4), "int8", 0.1, 0, 0), T((1, 4, 4, 6), "int8", 0.1, 0, 64)]
        layer = Layer("CONV_2D", [0], [1], params=dict(
            stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0, input_offset=0,
            output_offset=0, act_min=-128, act_max=127), consts=dict(
            weights=rng.integers(-127, 128, (6, 1, 1, 2)).astype(np.int8),
            bias=np.zeros(6, np.int32), multiplier=np.array([1 << 30], np.int32),
            shift=np.array([-8], np.int8)), interleaved=True)
        return tensors, layer, 160

    def relu():
        return ([T((1, 10), "int8", 0.1, 0, 0), T((1, 10), "int8", 0.1, 0, 16)],
                Layer("RELU", [0], [1], params=dict(
                    input_zero_point=0, output_zero_point=0, multiplier=1 << 30, shift=1, multiplier2=0,
                    shift2=0, range_radius=0, act_min=0, act_max=127), interleaved=True), 32)

    cases = {
        "op": (relu(), ""),
        "weights": (fc(weights=fc_consts["weights"].astype(np.int16)), ""),
        "nobias": (fc(bias=None), ""),
        "bias16": (fc(bias=fc_consts["bias"].astype(np.int16)), ""),
        "biaspred": (fc(), ""),
        "filter": (fc(filter_offset=2), ""),
        "grouped": (conv_grouped(), ""),
        "conv_bias16": (conv(bias=np.arange(5, dtype=np.int16)), ""),
        "conv_biaspred": (conv(), ""),
    }
    out = {}
    for name, ((tensors, layer, arena), message) in cases.items():
        model = F.MoteModel({}, tensors, [layer], [0], [1], arena)
        model.packed = [F.pack_consts(layer)]
        if name.endswith("biaspred"):
            b = model.packed[0]["bias"]
            raw = np.asarray(layer.consts["bias"], "<i4").tobytes()
            model.packed[0]["bias"] = F.PackedConst(6, b.dtype, b.shape, b"\x00\x00" + raw)  # alpha 0, raw
        data = F.to_bytes(model)
        assert data[5] == 2
        (d / f"il_{name}.mote").write_bytes(data)
        out[name] = (d / f"il_{name}.mote", message)
    # and one that keeps them: an interleaved CONV_2D without a bias
    tensors, layer, arena = conv(bias=None)
    model = F.MoteModel({}, tensors, [layer], [0], [1], arena)
    model.packed = [F.pack_consts(layer)]
    (d / "il_conv_nobias.mote").write_bytes(F.to_bytes(model))
    return out


def test_interleaved_rule_breaks_are_rejected(tmp_path):
    from motes.run.executor import Executor
    from motes.format import load
    cases = _bad_interleaved_files(tmp_path)
    good = tmp_path / "il_conv_nobias.mote"
    x = np.arange(-24, 24, dtype=np.int8) * 5
    want = Executor(load(good)).run([x.reshape(1, 4, 4, 3)])[0].ravel()
    code, out = run(f"""
import motes
for name, path in {[(k, str(p)) for k, (p, _) in cases.items()]!r}:
    try:
        motes.load(path, verbose=False)
        print("LOADED", name)
    except motes.MoteError as e:
        print("ERR", name, e)
from motes import kernels
for b in ("python", "viper", "native"):
    kernels.use(b)
    net = motes.load({str(good)!r}, verbose=False)
    print("OK", motes.backend(), net.ops[0], net.predict_int8({x.tolist()!r}, [0] * 80))
""")
    assert code == 0, out
    assert "LOADED" not in out, out
    # an interleaved CONV_2D's bias is optional: loads and runs as the host does
    for b in ("python", "viper", "native"):
        assert f"OK {b} 65 {want.tolist()}" in out, out
    lines = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("ERR")}
    for name, (path, message) in cases.items():
        line = lines[name]
        assert message in line, line
        assert "layer 0: bad interleaved layer (format 1.2): convert the model again" in line, line


def test_only_net_py_declares_a_nets_fields():
    # issue #16: Net.__init__ declares every field first (a comment each; the attribute
    # table is then allocated once); the reader hands its record over and Net assigns it,
    # and what other modules keep on a Net (hold.py's _held, derive.py's _dv and _dk,
    # k_native's _rq) goes into those declared fields, none of their own
    import ast
    from conftest import ROOT

    def fields(node, owner):
        out = set()
        for n in ast.walk(node):
            targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AugAssign) else []
            for t in targets:
                for e in ast.walk(t):
                    if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == owner:
                        out.add(e.attr)
        return out

    device = ROOT / "device" / "motes"
    net = ast.parse((device / "net.py").read_text())
    init = next(n for n in ast.walk(net) if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    head = []
    for stmt in init.body:
        if not isinstance(stmt, ast.Assign):
            break
        head.append(stmt)
    declared = set().union(*(fields(s, "self") for s in head))
    assert {"_t", "_g", "_c", "ops", "mv", "_held", "_dv", "_dk", "_wc", "_rq", "_rowbuf"} <= declared
    assert fields(net, "self") <= declared, "a Net field not declared at the top of Net.__init__"
    for path in sorted(device.glob("*.py")):
        if path.name != "net.py":
            made = fields(ast.parse(path.read_text()), "net")
            if path.name == "hold.py":
                # the one exception: hold.calls() shadows Net's tensor() and layer() with
                # lookups at the end of a resident load, with 6 KB to spare (the table
                # grows once then); a field of net.py's would grow net.py's code, which
                # is in the heap of a board without ROMFS (CircuitPython)
                made -= {"tensor", "layer"}
            if path.name == "replay.py":
                # and replay.install() shadows _run, with the same margin (native and viper)
                made -= {"_run"}
            assert made <= declared, f"{path.name} makes Net fields {sorted(made - declared)}"
            if path.name in ("reader.py", "verify.py"):
                assert not made, f"{path.name} writes {sorted(made)}: it returns them to Net"
