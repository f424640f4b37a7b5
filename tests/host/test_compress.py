"""`motes compress`: pruning, clustering and distillation on a small digits MLP,
every result converted and checked against tflite-micro. Tiny epochs: these
test that each stage does what it says, bench-style accuracy targets belong
to bench/ (docs/COMPRESS.md)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

try:
    import tensorflow  # noqa: F401
except ImportError:
    from conftest import missing_tool
    missing_tool("TensorFlow is not installed (pip install 'motes[train]')")

from motes.learn import compress  # noqa: E402
from motes.run.compare import compare, random_inputs  # noqa: E402
from motes.format import from_bytes  # noqa: E402


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from sklearn.datasets import load_digits
    import keras
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(64,))
    h = keras.layers.Dense(48, activation="relu", name="h1")(inp)
    out = keras.layers.Dense(10, activation="softmax", name="out")(h)
    model = keras.Model(inp, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:1400], y[:1400], epochs=8, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("compress")
    path = folder / "mlp.keras"
    model.save(path)
    np.savez(folder / "train.npz", x=x[:1400], y=y[:1400])
    np.savez(folder / "val.npz", x=x[1400:], y=y[1400:])
    return path, x, y, folder


def _bit_exact(res):
    inputs = random_inputs(from_bytes(res.mote), 5, seed=3)
    r = compare(res.tflite, res.mote, inputs)
    assert r["mismatches"] == 0, r


def _entropy_bits(w: np.ndarray) -> float:
    _, counts = np.unique(w, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def test_pruning_reaches_the_sparsity_and_the_codec(digits):
    path, x, y, _ = digits
    res = compress.compress(path, x[:1400], y[:1400], x[1400:], y[1400:], prune=0.8, epochs=3)
    base, pruned = res.stages
    assert pruned.name == "prune" and pruned.sparsity >= 0.8
    weights = np.concatenate([L.consts["weights"].ravel() for L in from_bytes(res.mote).layers
                              if "weights" in L.consts])
    # zeros reach the zero-run codec: the packed weights are near their entropy
    assert pruned.bits_per_weight <= _entropy_bits(weights) + 0.5
    assert pruned.bits_per_weight < 0.6 * base.bits_per_weight
    assert pruned.accuracy_int8 > 0.8
    _bit_exact(res)


def test_clustering_leaves_at_most_k_values_per_tensor(digits):
    path, x, y, _ = digits
    res = compress.compress(path, x[:1400], y[:1400], x[1400:], y[1400:], cluster=6, epochs=2)
    st = res.stages[-1]
    assert st.name == "cluster" and st.distinct_max <= 6
    for L in from_bytes(res.mote).layers:
        if "weights" in L.consts:
            assert len(np.unique(L.consts["weights"])) <= 6
    assert st.bits_per_weight <= np.log2(6) + 0.3
    _bit_exact(res)


def test_distillation_makes_a_smaller_student(digits):
    path, x, y, _ = digits
    res = compress.compress(path, x[:1400], y[:1400], x[1400:], y[1400:], distil_width=0.25, epochs=4)
    base, student = res.stages
    assert student.macs <= 0.3 * base.macs
    assert student.accuracy_int8 > 0.75
    _bit_exact(res)


def test_compress_from_the_command_line(digits, tmp_path):
    path, _, _, folder = digits
    out = tmp_path / "small.mote"
    proc = subprocess.run([sys.executable, "-m", "motes.cli", "compress", str(path), "--data",
                           str(folder / "train.npz"), "--val", str(folder / "val.npz"), "--prune", "0.5",
                           "--cluster", "8", "--epochs", "2", "-o", str(out), "--json",
                           "--plot", str(tmp_path / "p.png")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json
    rows = json.loads(proc.stdout)["stages"]
    assert [r["name"] for r in rows] == ["baseline", "prune", "cluster"]
    for r in rows:
        assert {"name", "bytes", "bits_per_weight", "macs", "peak_ram_resident", "peak_ram_streaming",
                "accuracy_float", "accuracy_int8"} <= set(r)
    assert rows[-1]["bytes"] < rows[0]["bytes"] and out.exists()
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args,message", [
    (["--prune", "1.5"], "--prune 1.5: give the fraction of weights to zero"),
    (["--cluster", "1"], "--cluster 1: give the number of shared values"),
    ([], "choose at least one stage"),
])
def test_bad_options_are_one_line(digits, tmp_path, args, message):
    path, _, _, folder = digits
    proc = subprocess.run([sys.executable, "-m", "motes.cli", "compress", str(path), "--data",
                           str(folder / "train.npz"), "-o", str(tmp_path / "x.mote")] + args,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1]


def test_data_that_does_not_fit_the_model(digits, tmp_path):
    path, *_ = digits
    np.savez(tmp_path / "bad.npz", x=np.zeros((20, 5), np.float32), y=np.zeros(20, int))
    proc = subprocess.run([sys.executable, "-m", "motes.cli", "compress", str(path), "--data",
                           str(tmp_path / "bad.npz"), "--prune", "0.5", "-o", str(tmp_path / "x.mote")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "each sample has 5 values; the model takes 64" in proc.stderr


def test_structured_pruning_cuts_macs_and_the_arena(digits):
    # the digits example's CNN: conv -> pool -> conv -> pool -> flatten -> dense
    from conftest import ROOT
    from motes.run import report
    _, x, y, _ = digits
    xi = x.reshape(-1, 8, 8, 1)
    res = compress.compress(ROOT / "examples" / "digits" / "model.keras", xi[:1400], y[:1400], xi[1400:],
                            y[1400:], structured_fraction=0.5, epochs=1)
    base, small = res.stages
    assert small.name == "structured" and small.macs < 0.6 * base.macs
    info = report.summary(from_bytes(res.mote), len(res.mote), None)
    assert info["macs"] == small.macs and info["arena_bytes"] < from_bytes(
        open(ROOT / "examples" / "digits" / "digits.mote", "rb").read()).arena_size
    filters = [layer.filters for layer in res.model.layers if hasattr(layer, "filters")]
    assert filters == [4, 8]
    _bit_exact(res)


def test_quantization_aware_training_keeps_int8_with_float(digits):
    # fine-tuned through int8 rounding, the int8 model agrees with its float self
    path, x, y, _ = digits
    res = compress.compress(path, x[:1400], y[:1400], x[1400:], y[1400:], prune=0.7, quantize_aware=True,
                            epochs=2)
    names = [s.name for s in res.stages]
    assert names == ["baseline", "prune", "qat"]
    st = res.stages[-1]
    assert abs(st.accuracy_int8 - st.accuracy_float) <= 0.006     # 2 of 397 samples
    assert st.sparsity >= 0.699                                   # pruned weights stay zero
    _bit_exact(res)


def test_distillation_trains_on_logits_and_leaves_the_teacher_as_it_was(digits):
    # the soft targets come from the logits (a softmax's probabilities lose every class
    # below the float floor); the teacher's softmax is back afterwards
    import keras
    path, x, _, _ = digits
    teacher = keras.models.load_model(path, compile=False)
    before = teacher.predict(x[:50], verbose=0)
    with compress._logits(teacher) as (logits,):
        z = np.asarray(logits(x[:50]))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), before, rtol=1e-4, atol=1e-6)
    assert (z < 0).any() and not np.allclose(z.sum(axis=1), 1.0)
    np.testing.assert_array_equal(teacher.predict(x[:50], verbose=0), before)


def test_structured_pruning_of_a_regression_model():
    # fine-tuning after structured pruning distils from the model it came from: the
    # regression branch (MSE to the labels and to the teacher)
    import keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    y = (x @ np.array([0.5, -1.0, 0.25, 2.0], np.float32) + 0.1).astype(np.float32)
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(4,))
    out = keras.layers.Dense(1, name="out")(keras.layers.Dense(32, activation="relu", name="h")(inp))
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    res = compress.compress(model, x[:500], y[:500], x[500:], y[500:], structured_fraction=0.5, epochs=4)
    base, small = res.stages
    assert res.model.get_layer("h").units == 16 and small.macs < base.macs
    assert small.accuracy_float < 0.5 and small.accuracy_int8 < 0.5        # MAE; y's spread is about 2.3
    _bit_exact(res)


def test_distillation_into_a_student_of_your_own(digits, tmp_path):
    # --student: any architecture with the model's input and output; the baseline it is
    # compared with (teacher None) trains the same student on the labels alone
    import keras
    path, x, y, folder = digits
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(64,))
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(12, activation="relu")(inp))
    keras.Model(inp, out).save(tmp_path / "student.keras")
    res = compress.compress(path, x[:1400], y[:1400], x[1400:], y[1400:], student=tmp_path / "student.keras",
                            epochs=2)
    base, student = res.stages
    assert student.name == "distil" and student.macs < 0.3 * base.macs and student.accuracy_int8 > 0.75
    _bit_exact(res)
    alone = compress.distil(None, x[:1400], y[:1400], student=keras.models.load_model(tmp_path / "student.keras"),
                            epochs=24, mixup=True, cosine=True)
    assert compress.float_accuracy(alone, x[1400:], y[1400:], "classify") > 0.75
    keras.Model(inp, keras.layers.Dense(3)(inp)).save(tmp_path / "wrong.keras")
    proc = subprocess.run([sys.executable, "-m", "motes.cli", "compress", str(path), "--data",
                           str(folder / "train.npz"), "--student", str(tmp_path / "wrong.keras"), "-o",
                           str(tmp_path / "x.mote")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--student: takes (64,) and gives (3,)" in proc.stderr
