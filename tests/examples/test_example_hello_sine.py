"""examples/hello_sine: train + convert, check the error of the int8 model on a
fine grid, then run main.py in the real MicroPython unix port and check every
printed value against the host's reference executor."""
from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pytest

from conftest import ROOT, example_module as _module, trained_example
from motes import api
from motes.run import mpy_engine
from motes.format import from_bytes

EXAMPLE = ROOT / "examples" / "hello_sine"
ROW = re.compile(r"^ *(-?[\d.]+) +(-?[\d.]+) +(-?[\d.]+)  ([ |.*]{41})$")




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_example(tmp_path_factory, "hello_sine")


def test_int8_model_follows_the_sine(trained):
    # 1000 grid points over [0, 2pi], none of them a training point. Answering 0 everywhere
    # gives RMSE 0.707; the float model reaches ~0.02 and int8 adds ~0.01 (input steps of
    # 2pi/255, output steps of ~0.008). The largest errors sit at the kinks of the ReLU
    # pieces near the peaks and the ends of the range.
    _, r = trained
    assert r["float_rmse"] < 0.05, r
    assert r["int8_rmse"] < 0.06, r
    assert r["int8_max"] < 0.2, r
    assert r["params"] == 321 and r["mote_bytes"] < 1024


def _rows(stdout):
    lines = stdout.splitlines()
    assert lines[0].startswith("<motes.Net hello_sine: 3 layers, input 1x1, output 1x1"), lines[0]
    assert lines[1].split()[:3] == ["x", "sin(x)", "model"]
    rows = []
    for ln in lines[2:]:
        m = ROW.match(ln)
        assert m, repr(ln)
        rows.append((float(m.group(1)), float(m.group(2)), float(m.group(3)), m.group(4)))
    return rows


def _check_against_host(folder, mote, points):
    code = "import os\nsys.path.insert(0, os.getcwd())\nimport main\nmain.main(%d)\n" % points
    proc = mpy_engine.run_code(code, heap="128K", cwd=folder, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _rows(proc.stdout)
    assert len(rows) == points
    model = from_bytes(mote.read_bytes())
    main = _module("main", folder) if (folder / "main.py").exists() else None
    for i, (x, s, y, bar) in enumerate(rows):
        x_exact = 2 * math.pi * i / (points - 1)          # what main.xs_of computes
        assert abs(x - x_exact) < 0.006 and abs(s - math.sin(x_exact)) < 0.0006
        _, host = api.run(model, np.array([[x_exact]], np.float32))
        assert abs(y - host.item()) < 0.0006, (x, y, host.item())
        assert bar == main.plot(math.sin(x_exact), host.item())
    return rows


def test_main_in_micropython_matches_host(trained):
    folder, r = trained
    rows = _check_against_host(folder, r["mote"], 21)
    assert max(abs(y - s) for _, s, y, _ in rows) < 0.2


def test_committed_mote_runs_on_the_board(tmp_path):
    """The committed hello_sine.mote is what train.py writes, and main.py runs it."""
    for name in ("main.py", "hello_sine.mote"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    model = from_bytes((EXAMPLE / "hello_sine.mote").read_bytes())
    assert model.meta["name"] == "hello_sine"
    xs = np.linspace(0, 2 * math.pi, 200)
    ys = np.array([api.run(model, np.array([[x]], np.float32))[1].item() for x in xs])
    assert np.sqrt(np.mean((ys - np.sin(xs)) ** 2)) < 0.06
    _check_against_host(tmp_path, EXAMPLE / "hello_sine.mote", 9)


def test_led_glow_follows_the_model(monkeypatch):
    """glow() drives a PWM duty of 0..65535 from the model's output (fake machine.PWM, CPython)."""
    main = _module("main", EXAMPLE)
    duties = []

    class PWM:
        def __init__(self, pin):
            self.pin = pin

        def freq(self, hz):
            assert hz == 1000

        def duty_u16(self, v):
            duties.append(v)

    class Machine:
        Pin = staticmethod(lambda n: n)

    Machine.PWM = PWM
    monkeypatch.setattr(main, "machine", Machine)
    monkeypatch.setattr(main, "LED_PIN", 2)
    import time
    monkeypatch.setattr(time, "sleep", lambda s: None)

    class Net:
        def predict(self, x):
            return [math.sin(x[0])]

    main.glow(Net(), seconds=2, period_s=2)
    assert len(duties) == 51 and duties[-1] == 0                    # one period, then off
    assert duties[0] == 32767 and max(duties) > 65000 and min(duties[:-1]) < 600
    assert abs(duties[25] - 32767) < 2                               # x = pi: sin 0, half
