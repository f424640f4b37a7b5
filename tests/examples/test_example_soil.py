"""examples/soil_moisture: generate data, train, convert, then run main.py on a
recorded day in the real MicroPython unix port and check it against the host."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import ROOT, example_module as _module, trained_example
from motes import api
from motes.format import from_bytes
from motes.run import mpy_engine

EXAMPLE = ROOT / "examples" / "soil_moisture"
LINE = re.compile(r"^(\d\d:\d\d)  moisture +(\d+) +(-?[\d.]+) C +(\d+)%  -> (\w+) \(([\d.]+)\)(  <- water me!)?$")




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The example's pipeline into a tmp folder: train + convert, record a day, the device files."""
    folder, result = trained_example(tmp_path_factory, "soil_moisture")
    _module("record_day", EXAMPLE).main(["-o", str(folder / "day.json")])
    return folder, result


def test_accuracy_on_unseen_pots(trained):
    # 12 whole pots the model never saw. The best possible is limited by the spread
    # between probes (sd 1200 counts in dry/wet calibration) near the 15 % / 35 % VWC
    # thresholds: a rule that knows the simulator's exact mean curve gets ~0.93, always
    # saying "ok" ~0.70. 0.88 leaves room for seed/TF-version wobble but fails a model
    # that has not learnt the thresholds; every class must be mostly recognised.
    _, r = trained
    assert r["accuracy"] > 0.88, r["accuracy"]
    assert min(r["recall"].values()) > 0.75, r["recall"]
    assert r["params"] < 500 and r["mote_bytes"] < 2048


def test_meta_in_mote_and_json(trained):
    folder, r = trained
    meta = json.loads((folder / "meta.json").read_text())
    model = from_bytes((folder / "soil.mote").read_bytes())
    assert model.meta["labels"] == ["dry", "ok", "wet"]
    assert model.meta["preprocess"] == meta["preprocess"]
    assert len(meta["preprocess"]["mean"]) == len(meta["features"]) == 4


def test_day_demo_in_micropython_matches_host(trained):
    folder, _ = trained
    # run_code's own script is called main.py too: put the example folder first on the path.
    code = "import os\nsys.path.insert(0, os.getcwd())\nimport main\nmain.main('day.json')\n"
    proc = mpy_engine.run_code(code, heap="256K", cwd=folder, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    day = json.loads((folder / "day.json").read_text())
    assert len(lines) == len(day) == 96
    parsed = []
    for ln, r in zip(lines, day):
        m = LINE.match(ln)
        assert m, ln
        assert m.group(1) == r["time"] and int(m.group(2)) == r["moisture"]
        assert m.group(5) in ("dry", "ok", "wet")
        assert (m.group(7) is not None) == (m.group(5) == "dry")
        parsed.append((m.group(5), float(m.group(6))))

    # The host: the same features and standardization (main.py's own pure-Python
    # functions, run in CPython), then the numpy reference executor.
    # (main.py imports the device `motes` and `sensors`, which CPython need not load here.)
    main = {}
    src = (folder / "main.py").read_text().replace("import motes\n", "").replace("import sensors\n", "")
    exec(compile(src, str(folder / "main.py"), "exec"), main)
    meta = json.loads((folder / "meta.json").read_text())
    model = from_bytes((folder / "soil.mote").read_bytes())
    feats = main["Features"](meta["step_min"])
    labels = model.meta["labels"]
    host = []
    for r in day:
        x = np.array(main["standardize"](feats(r), meta), dtype=np.float32).reshape(1, -1)
        _, y = api.run(model, x)
        y = y.ravel()
        best = int(np.argmax(y))
        host.append((labels[best], round(float(y[best]), 2)))
    assert [p[0] for p in parsed] == [h[0] for h in host]
    assert np.allclose([p[1] for p in parsed], [h[1] for h in host], atol=0.011)

    # The story of the day: ok at night, dry by the afternoon, wet after watering.
    truth = [r["true_label"] for r in day]
    agree = np.mean([p[0] == t for p, t in zip(parsed, truth)])
    assert agree > 0.8, agree
    assert {"dry", "ok", "wet"} <= {p[0] for p in parsed}


def test_committed_outputs_load():
    """The committed soil.mote / meta.json / day.json belong together and run."""
    meta = json.loads((EXAMPLE / "meta.json").read_text())
    model = from_bytes((EXAMPLE / "soil.mote").read_bytes())
    assert model.meta["preprocess"] == meta["preprocess"]
    assert len(json.loads((EXAMPLE / "day.json").read_text())) == 96
