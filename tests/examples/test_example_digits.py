"""examples/digits: train the CNN on scikit-learn's 8x8 digits, check held-out
accuracy, then run main.py and the REPL helpers (digits.py) in the real
MicroPython unix port and check every answer against the host's executor."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from conftest import ROOT, board_files, example_module as _module, missing_tool, trained_example
from motes import api
from motes.run import mpy_engine
from motes.format import from_bytes

EXAMPLE = ROOT / "examples" / "digits"
LINE = re.compile(r"^#(\d+) +written (\d)  model (\d) \(([\d.]+)\)(  <- wrong)?$")
BOARD_FILES = board_files("digits")




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    try:
        import sklearn  # noqa: F401
    except ImportError:
        missing_tool("scikit-learn is not installed (the digits data set ships with it)")
    return trained_example(tmp_path_factory, "digits")


def test_accuracy_on_held_out_digits(trained):
    # 360 held-out digits (a stratified fifth). The int8 CNN gets ~0.98; the average
    # picture of each digit (nearest mean) gets 0.90, so 0.95 is well above that and
    # leaves room for seed/TF-version wobble. Every digit must be mostly recognised.
    _, r = trained
    assert r["int8_accuracy"] > 0.95, r["int8_accuracy"]
    assert r["int8_accuracy"] > r["nearest_mean_accuracy"] + 0.04
    assert abs(r["int8_accuracy"] - r["float_accuracy"]) < 0.02       # int8 costs (almost) nothing
    c = r["confusion"]
    assert c.sum() == 360 and (c.sum(axis=1) >= 35).all()
    assert min(np.diag(c) / c.sum(axis=1)) > 0.85, c
    assert r["params"] < 2500 and r["mote_bytes"] < 4096


def test_input_quantization_is_exact(trained):
    # pixel v (0..16) / 16 must land exactly on int8 step 15 * v - 128 (train.calibration)
    folder, _ = trained
    model = from_bytes((folder / "digits.mote").read_bytes())
    t = model.tensors[model.inputs[0]]
    assert t.zero_point == -128 and abs(t.scale * 240 - 1) < 1e-6
    q = api.quantize_input(np.arange(17, dtype=np.float32) / 16, t.scale, t.zero_point)
    assert (q.astype(int) == 15 * np.arange(17) - 128).all()


def _host_answers(mote, rows):
    model = from_bytes(mote.read_bytes())
    labels = model.meta["labels"]
    out = []
    for s in rows:
        x = (np.array(s["pixels"], np.float32) / 16).reshape(1, 8, 8, 1)
        _, y = api.run(model, x)
        best = int(np.argmax(y.ravel()))
        out.append((labels[best], round(float(y.ravel()[best]), 2)))
    return out


def _run_main(folder):
    code = "import os\nsys.path.insert(0, os.getcwd())\nimport main\nmain.main()\n"
    proc = mpy_engine.run_code(code, heap="128K", cwd=folder, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("<motes.Net digits: 7 layers, input 1x8x8x1, output 1x10"), lines[0]
    rows = json.loads((folder / "samples.json").read_text())
    got = [LINE.match(ln) for ln in lines if ln.startswith("#")]
    assert len(got) == len(rows) and all(got), lines
    host = _host_answers(folder / "digits.mote", rows)
    for m, s, (label, p) in zip(got, rows, host):
        assert int(m.group(2)) == s["label"]
        assert m.group(3) == label and abs(float(m.group(4)) - p) < 0.011, (m.group(0), label, p)
        assert (m.group(5) is not None) == (label != str(s["label"]))
    right = sum(m.group(5) is None for m in got)
    assert lines[-1] == "%d of %d right" % (right, len(rows))
    assert sum(ln.startswith("  +---") for ln in lines) == 4          # two digits drawn
    return got, rows


def test_main_in_micropython_matches_host(trained):
    folder, r = trained
    got, rows = _run_main(folder)
    # the samples are held-out digits: two of each, plus two the model gets wrong
    xte = r["x_test"].reshape(len(r["x_test"]), 64)
    for i, s in zip(r["sample_index"], rows):
        assert s["pixels"] == xte[i].tolist() and s["label"] == int(r["y_test"][i])
    assert sorted({s["label"] for s in rows}) == list(range(10))
    assert sum(m.group(5) is not None for m in got) == 2
    # two of each digit depend on the split only: the committed samples hold the same ones
    committed = json.loads((EXAMPLE / "samples.json").read_text())
    fixed = [s for i, s in zip(r["sample_index"], rows) if list(r["y_test"][:i + 1]).count(s["label"]) <= 2]
    assert len(fixed) == 20 and all(s in committed for s in fixed)


def test_repl_helpers(trained):
    folder, _ = trained
    code = ("import os\nsys.path.insert(0, os.getcwd())\nfrom digits import *\nshow(1)\n"
            "print(classify(sample(1)))\n"
            "one = ['   @@   ', '  @@@   ', ' @ @@   ', '   @@   ', '   @@   ', '   @@   ', '   @@   ', '  @@@@  ']\n"
            "print(parse(one)[:8])\nprint(classify(one))\n")
    proc = mpy_engine.run_code(code, heap="128K", cwd=folder, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 14 and lines[0] == "  +----------------+"
    rows = json.loads((folder / "samples.json").read_text())
    label, p = _host_answers(folder / "digits.mote", rows[1:2])[0]
    assert lines[10] == "sample 1: written as %d, the model says %s (%.2f)" % (rows[1]["label"], label, p)
    assert lines[11].startswith("('%s', " % label)
    assert lines[12] == "[0, 0, 0, 16, 16, 0, 0, 0]"
    one = _module("digits", folder).parse(['   @@   ', '  @@@   ', ' @ @@   ', '   @@   ', '   @@   ',
                                          '   @@   ', '   @@   ', '  @@@@  '])
    assert lines[13].startswith("('%s', " % _host_answers(folder / "digits.mote", [{"pixels": one}])[0][0])


def test_committed_files_run_on_the_board(tmp_path):
    """The committed digits.mote and samples.json belong together and main.py runs them."""
    for name in BOARD_FILES:
        shutil.copy(EXAMPLE / name, tmp_path / name)
    got, rows = _run_main(tmp_path)
    assert len(rows) == 22 and sum(m.group(5) is None for m in got) == 20
