"""Every damaged file refused the same way everywhere (issue #14).

The reproducers of ../shared/fuzz-repro (the small ones also vendored in
tests/data/fuzz-repro) are refused by the host reader and by every device
backend with the one error type of each side; the host CLI answers bad models,
.tflite files and --input files in one line; and a short seeded fuzz campaign
(host/motes/run/fuzz.py, the long one is bench/fuzz.py) finds no crash, no hang
and no disagreement between the host, python, viper and native backends.
"""
from __future__ import annotations


import pytest

from conftest import ROOT, damaged_files, missing_tool, shared_model
from motes import api
from motes.run import fuzz
from motes.cli import main
from motes.format import FormatError, from_bytes

SHARED_REPRO = ROOT.parent / "shared" / "fuzz-repro"
LOCAL_REPRO = ROOT / "tests" / "data" / "fuzz-repro"
BAD_INPUTS = ["empty.npy", "obj.npy", "str.npy", "text.csv"]


MOTES = damaged_files(".mote")
TFLITES = damaged_files(".tflite")


def test_shared_reproducers_are_here():
    # the larger reproducers live only in ../shared (CI has it)
    if not SHARED_REPRO.is_dir():
        missing_tool(f"{SHARED_REPRO} is missing: only the vendored reproducers of issue #14 run")
    vendored = {p.name for p in LOCAL_REPRO.glob("*.mote")
                if not p.name.startswith(("fuzz_", "crafted_"))}     # (fuzz_*, crafted_*: ours)
    assert vendored <= {p.name for p in SHARED_REPRO.glob("*.mote")}


@pytest.fixture(scope="module")
def device_outcomes():
    """Each backend's outcome for every reproducer, one MicroPython process per backend."""
    paths = list(MOTES.values())
    return {b: fuzz.device_outcomes(paths, b, mode=fuzz.MODES[b]) for b in fuzz.DEVICE_BACKENDS}


@pytest.mark.parametrize("name", sorted(MOTES))
def test_damaged_mote_is_refused_everywhere(name, device_outcomes, capsys):
    path = MOTES[name]
    with pytest.raises(FormatError) as host:
        from_bytes(path.read_bytes(), name)
    assert name in str(host.value)
    for backend, got in device_outcomes.items():
        kind, message = got[str(path)]
        assert kind == "refused", f"{backend}: {kind} {message}"          # a MoteError
        assert name in message, f"{backend}: the message names the file: {message}"
    # the CLI: one line, no traceback
    code, out, err = _cli(capsys, "inspect", path)
    assert code == 2 and err.count("\n") == 1 and err.startswith("motes inspect: error: "), err


# crafted_*.mote (tests/data/fuzz-repro/crafted.py): one rule each, and the one message
# every reader gives for it, after the file's name
CRAFTED = {
    "crafted_input_norm_std_zero.mote": 'metadata: input_norm must be {"mean": [...], "std": [...]}, as many '
                                        "finite numbers each, a divisor of the 4 inputs, no std 0",
    "crafted_huffman_shift_40.mote": "layer 5: constant 3 holds 40, outside -63..31",
    "crafted_huffman_weights_stray_byte.mote": "layer 2: damaged weights: 12 bits after the last value, "
                                               "not zero padding",
    "crafted_huffman_weights_truncated.mote": "layer 2: damaged weights: the payload is truncated",
    # the host says which rule, in parentheses (the C decoder cannot)
    "crafted_huffman_bad_code_table.mote": "layer 2: damaged weights: bad code table",
    "crafted_huffman_code_table_cut_short.mote": "layer 2: damaged weights: the payload is truncated",
    "crafted_zerorun_value_0.mote": "layer 2: damaged weights: bad zero runs",
}


def test_crafted_reproducers_are_what_their_script_makes():
    import importlib.util
    spec = importlib.util.spec_from_file_location("crafted", LOCAL_REPRO / "crafted.py")
    crafted = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crafted)
    assert sorted(crafted.FILES) == sorted(CRAFTED)
    for name, make in crafted.FILES.items():
        assert make() == (LOCAL_REPRO / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_damage_has_one_message_everywhere(name, device_outcomes):
    """The host, and each backend in both modes (python resident and viper, native streaming
    in device_outcomes; here the other mode of each too), say the same words."""
    path = LOCAL_REPRO / name
    want = f"{path}: {CRAFTED[name]}"
    with pytest.raises(FormatError) as host:
        from_bytes(path.read_bytes(), str(path))
    assert str(host.value) == want or str(host.value).startswith(want + " (") and ("table" in name or "zerorun" in name)
    for backend, got in device_outcomes.items():
        assert got[str(path)] == ("refused", want), backend
    for backend, mode in fuzz.MODES.items():
        other = "streaming" if mode == "resident" else "resident"
        assert fuzz.device_outcomes([path], backend, mode=other)[str(path)] == ("refused", want), (backend, other)


@pytest.mark.parametrize("name", sorted(TFLITES))
def test_damaged_tflite_is_one_line(name, tmp_path, capsys):
    code, out, err = _cli(capsys, "convert", TFLITES[name], "-o", tmp_path / "x.mote")
    assert code == 2 and err.strip().count("\n") == 1 and "damaged or inconsistent .tflite" in err, err


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_file_is_one_line(name, tmp_path, capsys):
    model = tmp_path / "hello.mote"
    model.write_bytes(api.convert(shared_model("hello_world_int8")).data)
    code, out, err = _cli(capsys, "run", model, "--input", LOCAL_REPRO / name)
    assert code == 2 and err.count("\n") == 1 and f"--input {LOCAL_REPRO / name}" in err, err


def test_too_small_heap_is_one_line_naming_the_file(tmp_path, capsys):
    model = tmp_path / "hello.mote"
    model.write_bytes(api.convert(shared_model("hello_world_int8")).data)
    x = tmp_path / "x.csv"
    x.write_text("0.5\n")
    code, out, err = _cli(capsys, "run", model, "--input", x, "--engine", "micropython", "--heap", "12K")
    assert code == 2 and err.count("\n") == 1, err
    assert str(model) in err and "not enough memory in a 12K heap" in err and "larger heap" in err, err
    assert "/tmp/tmp" not in err.replace(str(tmp_path), "")        # not the temporary copy's name


def test_short_fuzz_campaign_every_backend_agrees():
    """500 CRC-valid mutants of three small models (seeded): the host reader and
    executor and the device runtime with each backend (python resident, viper and
    native streaming) either all refuse a file, with their one error type, or all
    run it to the same output; no crash, no hang."""
    bases = [api.convert(shared_model("hello_world_int8")).data,
             (ROOT / "examples" / "digits" / "digits.mote").read_bytes(),
             (ROOT / "examples" / "soil_moisture" / "soil.mote").read_bytes()]
    result = fuzz.campaign(bases, 500, seed=14)
    assert result["findings"] == [], fuzz.format_table(result) + "\n" + "\n".join(
        f"{name}: {'; '.join(f)}" for name, f in result["findings"][:10])
    t = result["table"]
    assert sum(t.values()) == 500 and t.get("accepted, same output", 0) > 50 and t.get("refused by all", 0) > 250, t


def test_fuzz_campaign_of_the_copy_and_pick_ops(opmodel_cache):
    """300 mutants of models with the ops of k_gather, k_select and k_tconv (slices,
    transposes, splits, packs, max / min, TRANSPOSE_CONV) and an LSTM's QUANTIZE through
    float32: a damaged shape or param is refused by every reader (or makes the same
    output), never read or written past its tensor."""
    from motes.compiler.converter import convert_graph
    from motes.compiler.tflite_reader import read_tflite
    from motes.format import to_bytes
    from test_device_kernels import _keras_model_mote, _select_build, _tconv_build
    island = ROOT / "tests" / "data" / "float_island" / "lstm_island.tflite"
    bases = [to_bytes(_keras_model_mote("select", _select_build, (6, 4, 3), opmodel_cache, seed=12)),
             to_bytes(_keras_model_mote("tconv", _tconv_build, (3, 4, 2), opmodel_cache, seed=15)),
             to_bytes(convert_graph(read_tflite(island.read_bytes())))]
    result = fuzz.campaign(bases, 300, seed=17)
    assert result["findings"] == [], fuzz.format_table(result) + "\n" + "\n".join(
        f"{name}: {'; '.join(f)}" for name, f in result["findings"][:10])
    t = result["table"]
    assert sum(t.values()) == 300 and t.get("accepted, same output", 0) > 20 and t.get("refused by all", 0) > 150, t


def test_a_wider_constant_of_an_elementwise_op_is_refused_everywhere(opmodel_cache, tmp_path):
    # an int16 operand of MINIMUM (or ADD, ...) holding -129: the kernels look operands up
    # as int8 values, so the host computed another answer than the board (a fuzz finding);
    # now every reader refuses it at load, with one message
    import dataclasses
    import numpy as np
    from motes.format import to_bytes
    from test_device_kernels import _keras_model_mote, _select_build
    m = _keras_model_mote("select", _select_build, (6, 4, 3), opmodel_cache, seed=12)
    i = next(k for k, L in enumerate(m.layers) if L.op == "MINIMUM")
    pc = m.packed[i]["input2"]
    v = pc.decode().astype("<i2")
    v[0] = -129
    m.packed[i]["input2"] = dataclasses.replace(pc, dtype="int16", codec=0, payload=v.tobytes())
    path = tmp_path / "minimum_int16.mote"
    path.write_bytes(to_bytes(m))
    want = f"layer {i}: constant 1 has dtype code 2: this op's constants are int8"
    with pytest.raises(FormatError, match=want):
        from_bytes(path.read_bytes(), path.name)
    for b in fuzz.DEVICE_BACKENDS:
        kind, message = fuzz.device_outcomes([path], b, mode=fuzz.MODES[b])[str(path)]
        assert kind == "refused" and want in message, (b, kind, message)


def test_short_tflite_fuzz_campaign():
    """200 mutants of the shared .tflite models, flatbuffer fields set to boundary values:
    each converts (and reads back) or is refused with a ModelError, never another exception."""
    bases = [shared_model("hello_world_int8").read_bytes(), shared_model("micro_speech_quantized").read_bytes()]
    result = fuzz.tflite_campaign(bases, 200, seed=14)
    assert result["findings"] == [], result
    assert result["table"].get("converted", 0) > 20 and result["table"].get("refused (one line)", 0) > 20


def test_c_decoders_and_kernels_under_sanitizers(tmp_path):
    """ulab_kernels/fuzz.c (what 'make fuzz' runs for 1,000,000 calls), briefly: random
    and hand-corrupted inputs, buffers of exactly the sizes the dims describe, gcc's
    AddressSanitizer and UndefinedBehaviorSanitizer stopping at the first report."""
    import shutil
    import subprocess
    gcc = shutil.which("gcc")
    if gcc is None:
        missing_tool("gcc is not installed")
    k = ROOT / "ulab_kernels"
    exe = tmp_path / "kernels-fuzz"
    build = subprocess.run([gcc, "-std=c99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            "-o", str(exe), str(k / "fuzz.c"), str(k / "kernels.c"), str(k / "huffman.c")],
                           capture_output=True, text=True)
    if build.returncode != 0 and "asan" in build.stderr:
        missing_tool(f"gcc has no sanitizer libraries: {build.stderr.strip()[-200:]}")
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "100000", "14"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "no sanitizer report" in run.stdout, run.stdout + run.stderr


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
