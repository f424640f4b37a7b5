"""The `motes` command: convert (tflite and Keras), inspect, run, compare, and its errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, shared_model
from motes.cli import main
from motes.run.compare import compare, random_inputs
from motes import api
from motes.format import from_bytes

INSPECT_KEYS = {"file_bytes", "macs", "weights_raw_bytes", "weights_packed_bytes", "entropy_bound_bytes",
                "peak_ram_resident", "peak_ram_streaming", "layers"}


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_convert_then_inspect_json(tmp_path, capsys):
    out = tmp_path / "kws.mote"
    code, stdout, stderr = run_cli(capsys, "convert", shared_model("mlperf_tiny_kws_ref_model"), "-o", out)
    assert code == 0, stderr
    assert "ratio" in stdout and out.exists()
    assert not list(tmp_path.glob("*.part"))
    code, stdout, _ = run_cli(capsys, "inspect", out, "--json")
    info = json.loads(stdout)
    assert INSPECT_KEYS <= set(info)
    assert info["file_bytes"] == out.stat().st_size
    assert len(info["layers"]) == 13
    assert info["macs"] == sum(r["macs"] for r in info["layers"]) > 2_000_000
    assert info["peak_ram_streaming"] < info["peak_ram_resident"]
    for row in info["layers"]:
        assert {"op", "inputs", "outputs", "macs", "weights_raw_bytes", "weights_packed_bytes",
                "bits_per_weight", "entropy_bound_bytes"} <= set(row)


def test_convert_interleaves_unless_told_not_to(tmp_path, capsys):
    """Format 1.2 by default (interleaved FC / CONV_2D layers, shown by inspect); --no-interleave
    writes a 1.1 file with the same MACs and weight counts that runs the same."""
    src = shared_model("mlperf_tiny_kws_ref_model")
    new, old = tmp_path / "new.mote", tmp_path / "old.mote"
    code, stdout, stderr = run_cli(capsys, "convert", src, "-o", new)
    assert code == 0 and "(format 1.2)" in stdout, stderr
    code, stdout, stderr = run_cli(capsys, "convert", src, "-o", old, "--no-interleave")
    assert code == 0 and "(format 1.1)" in stdout, stderr
    assert new.read_bytes()[4:6] == bytes([1, 2]) and old.read_bytes()[4:6] == bytes([1, 1])
    infos = []
    for path in (new, old):
        code, stdout, _ = run_cli(capsys, "inspect", path, "--json")
        infos.append(json.loads(stdout))
    a, b = infos
    assert a["format"] == "1.2" and b["format"] == "1.1"
    assert a["interleaved_layers"] == 6 and b["interleaved_layers"] == 0
    assert [r["interleaved"] for r in a["layers"]] == [r["op"] in ("FULLY_CONNECTED", "CONV_2D") for r in a["layers"]]
    for key in ("macs", "weights", "weights_raw_bytes", "arena_bytes", "peak_ram_resident"):
        assert a[key] == b[key], key
    assert [r["macs"] for r in a["layers"]] == [r["macs"] for r in b["layers"]]
    code, stdout, _ = run_cli(capsys, "inspect", new)
    assert "format 1.2 (6 interleaved)" in stdout and stdout.count(" interleaved\n") == 6
    x = random_inputs(from_bytes(new.read_bytes()), 3, seed=4)
    tfl = src.read_bytes()
    assert compare(tfl, new.read_bytes(), x)["mismatches"] == 0
    assert compare(tfl, old.read_bytes(), x)["mismatches"] == 0


def test_inspect_tflite_directly(capsys):
    code, stdout, _ = run_cli(capsys, "inspect", shared_model("micro_speech_quantized"))
    assert code == 0
    # (its first layer, a depthwise convolution of one input channel, is written as CONV_2D)
    assert "CONV_2D" in stdout and "SOFTMAX" in stdout and "peak streaming" in stdout


def test_compare_json_keys(capsys):
    code, stdout, _ = run_cli(capsys, "compare", shared_model("hello_world_int8"), "--n", 60, "--json")
    result = json.loads(stdout)
    assert code == 0
    assert result["n"] == 60 and result["mismatches"] == 0 and result["max_abs_diff"] == 0
    assert result["engine"] == "numpy"


def test_run_with_labels(tmp_path, capsys):
    out = tmp_path / "p.mote"
    assert run_cli(capsys, "convert", shared_model("person_detect"), "-o", out, "--labels", "no_person,person")[0] == 0
    raw = ROOT.parent / "shared/models/testdata/person_detection/person_96x96_u8_topdown.raw"
    code, stdout, _ = run_cli(capsys, "run", out, "--input", raw, "--json")
    result = json.loads(stdout)
    assert result["output_int8"] == [-113, 113] and result["label"] == "person"


def test_wrong_input_size_is_explained(tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros(7, np.float32))
    code, _, err = run_cli(capsys, "run", shared_model("hello_world_int8"), "--input", x)
    assert code == 2 and "has 7 values; the model wants 1" in err


def test_not_a_model(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"hello, this is not a model")
    code, _, err = run_cli(capsys, "convert", bad)
    assert code == 2 and "not a TensorFlow Lite flatbuffer" in err
    code, _, err = run_cli(capsys, "inspect", tmp_path / "missing.mote")
    assert code == 2 and "not found" in err


def test_console_script_runs():
    env = dict(os.environ, PYTHONPATH=str(ROOT / "host"))
    out = subprocess.run([sys.executable, "-m", "motes.cli", "--version"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.startswith("motes ")


# ---- Keras models -------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    keras.utils.set_random_seed(7)
    d = tmp_path_factory.mktemp("keras")
    inp = keras.Input((8, 8, 1))          # batch size left open: motes fixes it to 1
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inp, out)
    calib = np.random.default_rng(0).normal(size=(40, 8, 8, 1)).astype(np.float32)
    model.save(d / "m.keras")
    model.save(d / "m.h5")
    model.export(d / "saved", verbose=False)
    np.save(d / "calib.npy", calib)
    np.savez(d / "calib.npz", x=calib)
    np.savetxt(d / "calib.csv", calib.reshape(40, -1), delimiter=",",
               header=",".join(f"f{i}" for i in range(64)), comments="")
    return d


@pytest.mark.parametrize("model_name,calib", [("m.keras", "calib.npy"), ("m.h5", "calib.npz"),
                                              ("saved", "calib.npy"), ("m.keras", "calib.csv")])
def test_convert_keras(keras_model, model_name, calib, capsys):
    out = keras_model / f"{model_name}-{calib}.mote"
    code, stdout, stderr = run_cli(capsys, "convert", keras_model / model_name, "--calib", keras_model / calib,
                                   "-o", out, "--labels", "a,b,c")
    assert code == 0, stderr
    model = from_bytes(out.read_bytes())
    assert [L.op for L in model.layers] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert model.meta["labels"] == ["a", "b", "c"]
    conv = api.convert(keras_model / model_name, calibration=keras_model / calib)
    assert compare(conv.tflite, out.read_bytes(), random_inputs(model, 30))["mismatches"] == 0


def test_keras_needs_calibration(keras_model, capsys):
    code, _, err = run_cli(capsys, "convert", keras_model / "m.keras")
    assert code == 2 and "--calib" in err


def test_keras_calibration_shape_mismatch(keras_model, tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.zeros((5, 3), np.float32))
    code, _, err = run_cli(capsys, "convert", keras_model / "m.keras", "--calib", tmp_path / "c.npy")
    assert code == 2 and "needs 64" in err


def test_unsupported_op_names_each_and_writes_nothing(tmp_path, capsys):
    import keras
    from tests.tflm import keras_to_int8
    inp = keras.Input((4, 4, 2), batch_size=1)
    x = keras.layers.UpSampling2D(2)(inp)
    x = keras.layers.Conv2D(2, 1)(x)
    x = keras.layers.UpSampling2D(2)(x)
    model = keras.Model(inp, keras.layers.Flatten()(x))
    src = tmp_path / "up.tflite"
    src.write_bytes(keras_to_int8(model, np.random.default_rng(0).normal(size=(10, 4, 4, 2))))
    out = tmp_path / "up.mote"
    code, _, err = run_cli(capsys, "convert", src, "-o", out)
    assert code == 2
    assert "TILE x4" in err and "operators #1 ->" in err and "Supported:" in err
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_compare_with_the_runtime_from_romfs(capsys):
    # --romfs: the device runtime imported from an emulated ROMFS partition;
    # micro_speech then streams in issue #3's 48K heap, bit-exact with TFLM
    code, out, err = run_cli(capsys, "compare", shared_model("micro_speech_quantized"), "--n", 3,
                             "--engine", "micropython", "--romfs", "--heap", "48K", "--mode", "streaming",
                             "--backend", "python", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["mismatches"] == 0 and result["n"] == 3
    assert result["engine"] == "micropython" and result["mode"] == "streaming"
    assert result["peak_heap_bytes"] < 48 * 1024
