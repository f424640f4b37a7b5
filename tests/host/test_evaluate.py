"""`motes evaluate`: accuracy as the board computes it, checked by hand."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, shared_model
from motes import api
from motes.learn.evaluate import evaluate
from motes.compiler.graph import ModelError

DIGITS = ROOT / "examples" / "digits" / "digits.mote"
SOIL = ROOT / "examples" / "soil_moisture" / "soil.mote"


def _digits(n=40, seed=1):
    from sklearn.datasets import load_digits
    d = load_digits()
    idx = np.random.default_rng(seed).choice(len(d.target), n, replace=False)
    return (d.data[idx].reshape(-1, 8, 8, 1) / 16.0).astype(np.float32), d.target[idx]


def test_classification_equals_a_hand_computation(tmp_path):
    x, y = _digits()
    y = y.copy()
    y[:3] = (y[:3] + 1) % 10            # three labels surely wrong: errors to count
    np.savez(tmp_path / "d.npz", x=x, y=y)
    r = evaluate(DIGITS, tmp_path / "d.npz")
    model, _, _ = api.load_model(DIGITS)
    pred = np.array([int(np.argmax(api.run(model, xi[None])[0])) for xi in x])
    conf = np.zeros((10, 10), int)
    for t, p in zip(y, pred):
        conf[t, p] += 1
    assert r["n"] == 40 and r["engine"] == "numpy" and r["task"] == "classify"
    assert r["accuracy"] == pytest.approx(float(np.mean(pred == y)))
    assert r["confusion"] == conf.tolist()
    for c in range(10):
        if conf[c].sum():
            assert r["per_class"][str(c)]["recall"] == pytest.approx(conf[c, c] / conf[c].sum())
    assert r["accuracy"] < 1.0


def test_regression_equals_a_hand_computation(tmp_path):
    path = shared_model("hello_world_int8")
    x = np.linspace(0, 6.2, 25, dtype=np.float32).reshape(-1, 1)
    y = np.sin(x)
    np.savez(tmp_path / "s.npz", x=x, y=y)
    r = evaluate(path, tmp_path / "s.npz")            # one output value: regression
    model, _, _ = api.load_model(path)
    got = np.array([api.run(model, xi.reshape(1, 1))[1].ravel()[0] for xi in x])
    err = got.astype(np.float64) - y.ravel()
    assert r["task"] == "regress"
    assert r["mae"] == pytest.approx(np.mean(np.abs(err)))
    assert r["rmse"] == pytest.approx(np.sqrt(np.mean(err ** 2)))
    assert r["mae"] < 0.1


def test_the_device_runtime_agrees(tmp_path):
    x, y = _digits(12)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a = evaluate(DIGITS, tmp_path / "d.npz")
    b = evaluate(DIGITS, tmp_path / "d.npz", engine="micropython")
    assert b["engine"] == "micropython" and a["confusion"] == b["confusion"]


def test_csv_with_class_names(tmp_path):
    # soil.mote has labels dry/ok/wet: a CSV may name the classes
    model, _, _ = api.load_model(SOIL)
    assert model.meta["labels"] == ["dry", "ok", "wet"]
    rng = np.random.default_rng(0)
    x = np.load(ROOT / "examples" / "soil_moisture" / "calib.npy")[:30]
    pred = [int(np.argmax(api.run(model, xi[None])[0])) for xi in x]
    names = np.array(["dry", "ok", "wet"])[pred]
    names[:2] = ["wet" if n != "wet" else "dry" for n in names[:2]]
    lines = ["a,b,state,c,d"] + [f"{r[0]},{r[1]},{s},{r[2]},{r[3]}" for r, s in zip(x, names)]
    (tmp_path / "soil.csv").write_text("\n".join(lines) + "\n")
    r = evaluate(SOIL, tmp_path / "soil.csv", label="state")
    assert r["labels"] == ["dry", "ok", "wet"]
    assert r["accuracy"] == pytest.approx(28 / 30)
    assert rng is not None


def test_the_float_keras_baseline(tmp_path):
    from conftest import missing_tool
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        missing_tool("TensorFlow is not installed (pip install 'motes[train]')")
    x, y = _digits(30)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    r = evaluate(ROOT / "examples" / "digits" / "model.keras", tmp_path / "d.npz")
    assert r["engine"] == "keras (float)" and r["accuracy"] > 0.9


@pytest.mark.parametrize("make,message", [
    (lambda d: np.savez(d / "bad.npz", x=np.zeros((5, 7)), y=np.zeros(5)),
     "each sample has 7 values (x is 5x7); the model takes 64 (input shape 1x8x8x1)"),
    (lambda d: np.savez(d / "bad.npz", x=np.zeros((5, 64)), y=np.array([0, 1, 2, 3, 12])),
     "label 12 is outside the model's 10 classes (0..9)"),
    (lambda d: np.savez(d / "bad.npz", x=np.zeros((5, 64)), y=np.zeros(4)),
     "x has 5 samples but y has 4: they must match"),
    (lambda d: np.savez(d / "bad.npz", a=np.zeros(3)),
     "the .npz needs arrays named x and y"),
])
def test_bad_data_is_one_clear_line(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(ModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(DIGITS, tmp_path / "bad.npz")
    proc = subprocess.run([sys.executable, "-m", "motes.cli", "evaluate", str(DIGITS), "--data",
                           str(tmp_path / "bad.npz")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr


def test_csv_problems_are_named(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n1,x,0\n")
    with pytest.raises(ModelError, match="a CSV needs --label"):
        evaluate(DIGITS, tmp_path / "t.csv")
    with pytest.raises(ModelError, match="no column 'z'"):
        evaluate(DIGITS, tmp_path / "t.csv", label="z")
    with pytest.raises(ModelError, match="line 2: a feature is not a number"):
        evaluate(DIGITS, tmp_path / "t.csv", label="y")
    head = ",".join(f"p{i}" for i in range(64))
    (tmp_path / "n.csv").write_text(f"{head},y\n" + "".join("0," * 64 + "dry\n" for _ in range(3)))
    with pytest.raises(ModelError, match="labels dry are not among the model's"):
        evaluate(DIGITS, tmp_path / "n.csv", label="y")
    head = ",".join(f"p{i}" for i in range(490))
    (tmp_path / "k.csv").write_text(f"{head},y\n" + "".join("0," * 490 + "dry\n" for _ in range(3)))
    with pytest.raises(ModelError, match="the model has no labels"):
        evaluate(shared_model("mlperf_tiny_kws_ref_model"), tmp_path / "k.csv", label="y")


def test_json_output(tmp_path):
    x, y = _digits(10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    proc = subprocess.run([sys.executable, "-m", "motes.cli", "evaluate", str(DIGITS), "--data",
                           str(tmp_path / "d.npz"), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert {"n", "accuracy", "per_class", "confusion", "engine"} <= set(r)
    assert Path(DIGITS).exists()
