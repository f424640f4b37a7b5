"""From a sensor to a model: `motes record` on the emulated board (the MicroPython unix
port behind a pty), `motes train` on what it recorded, `motes deploy` of that model
back to the board, which then classifies as the host computes. Small on purpose:
tens of rows, a few epochs."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, need_micropython
from motes import api
from motes.learn import evaluate
from motes.board.transport import SerialBoard
from motes.board.emulate import EmulatedBoard
from motes.learn.record import parse_line

SOIL = ROOT / "examples" / "soil_moisture"
# (faulthandler: a recording that does not stop is sent SIGABRT and shows where it waits)
MOTES = [sys.executable, "-X", "faulthandler", "-m", "motes.cli"]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "host"))


def motes(*args, env=None, timeout=300):
    return subprocess.run(MOTES + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env=env or ENV)


def test_a_reset_board_ends_the_recording(tmp_path):
    """A board behind a USB-serial chip keeps its port when reset: its banner ends the recording."""
    from motes.learn.record import Live, Sink, _Done, _lines
    sink = Sink(tmp_path / "r.csv", "dry")
    with pytest.raises(_Done, match="board reset"):
        _lines(b"a,b\n1,2\n3,4\nMicroPython v1.25.0 on 2025-04-15; Generic ESP32 module with ESP32\n5,6\n",
               sink, Live(), None)
    sink.close()
    assert [ln.split(",")[1:] for ln in (tmp_path / "r.csv").read_text().splitlines()] == [
        ["a", "b", "label"], ["1", "2", "dry"], ["3", "4", "dry"]]


def test_parse_line():
    assert parse_line("moisture,temp_c,rh") == ("header", ["moisture", "temp_c", "rh"])
    assert parse_line("38211,21.4,55\r") == ("row", ["38211", "21.4", "55"])
    assert parse_line("moisture=38211 temp_c=21.4") == ("row", {"moisture": "38211", "temp_c": "21.4"})
    assert parse_line("a=1,b=-2.5e3") == ("row", {"a": "1", "b": "-2.5e3"})
    assert parse_line("climate sensor: timeout")[0] == "text"
    assert parse_line("x=oops")[0] == "text"
    assert parse_line("# a comment")[0] == "text"


@pytest.fixture(scope="module")
def soil_board(tmp_path_factory):
    """An emulated board with the soil example, and three recordings from its record.py."""
    need_micropython()
    d = tmp_path_factory.mktemp("soil")
    with EmulatedBoard(d / "board", heap="128K") as b:
        env = dict(b.env(), PYTHONPATH=str(ROOT / "host"))
        r = motes("deploy", "--example", "soil_moisture", "--port", "@", env=env)
        assert r.returncode == 0, r.stderr
        csv_path = d / "pots.csv"
        runs = {}
        for label in ("dry", "ok", "wet"):
            runs[label] = motes("record", "--port", "@", "--script", SOIL / "record.py", "--label", label,
                                "--rows", 30, "-o", csv_path, env=env)
        yield {"board": b, "env": env, "csv": csv_path, "runs": runs, "dir": d}


def test_record_writes_labelled_rows(soil_board):
    for label, r in soil_board["runs"].items():
        assert r.returncode == 0, r.stderr
        assert re.search(rf"30 rows \([\d.]+ rows/s\) labelled '{label}' (written to|appended to) .*stopped: rows",
                         r.stderr), r.stderr
    lines = soil_board["csv"].read_text().splitlines()
    assert lines[0] == "timestamp,moisture,temp_c,rh,label"        # one header, appended runs
    rows = [ln.split(",") for ln in lines[1:]]
    assert [r[-1] for r in rows] == ["dry"] * 30 + ["ok"] * 30 + ["wet"] * 30
    counts = np.array([float(r[1]) for r in rows])
    assert counts[:30].mean() > counts[30:60].mean() > counts[60:].mean()   # dry soil reads high
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", r[0]) for r in rows)


def test_record_refuses_another_header(soil_board, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("timestamp,a,b,label\n1,2,3,x\n")
    r = motes("record", "--port", "@", "--script", SOIL / "record.py", "--label", "dry", "--rows", 3,
              "-o", other, env=soil_board["env"])
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("motes record: error:")]
    assert len(err) == 1 and "has the columns timestamp,a,b,label but the board prints" in err[0], r.stderr
    assert "Traceback" not in r.stderr
    assert other.read_text() == "timestamp,a,b,label\n1,2,3,x\n"


@pytest.fixture(scope="module")
def trained(soil_board):
    out = soil_board["dir"] / "mine.mote"
    r = motes("train", soil_board["csv"], "--label", "label", "--epochs", 20, "-o", out)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_train_from_recorded_rows(trained):
    out, text = trained
    assert "90 rows, 3 features (moisture, temp_c, rh); training on 72, validating on 18; classes dry, ok, wet" in text
    acc = float(re.search(r"int8 ([\d.]+) %", text).group(1))
    assert acc >= 80, text                      # three well-separated simulated soils
    assert "confusion (rows: true class, columns: predicted)" in text
    assert re.search(r"wrote .*mine\.mote \([\d,]+ bytes\)", text)
    model, _, _ = api.load_model(out)
    assert model.meta["labels"] == ["dry", "ok", "wet"]
    assert model.meta["features"] == ["moisture", "temp_c", "rh"]
    norm = model.meta["input_norm"]
    assert 30000 < norm["mean"][0] < 45000 and norm["std"][1] > 0.5   # raw counts and degrees C
    # the same figures from motes evaluate on the whole CSV (timestamp column skipped)
    r = evaluate.evaluate(out, trained[0].parent / "pots.csv", label="label")
    assert r["n"] == 90 and r["accuracy"] > 0.8


def test_deployed_trained_model_runs_on_the_board_as_on_the_host(soil_board, trained):
    out, _ = trained
    r = motes("deploy", out, "--example", "soil_moisture", "--port", "@", "--run", env=soil_board["env"])
    assert r.returncode == 0, r.stderr
    said = re.findall(r"moisture +(\d+) +([\d.]+) C +(\d+)%  -> (\w+) \(([\d.]+)\)", r.stdout)
    assert len(said) == 96, r.stdout[-2000:]
    day = json.loads((SOIL / "day.json").read_text())
    x = np.array([[d["moisture"], d["temp_c"], d["rh"]] for d in day], np.float32)
    host, info = evaluate.predict(out, x)          # raw readings; input_norm applied as on the board
    for (_, _, _, label, p), h in zip(said, host):
        assert label == info["labels"][int(np.argmax(h))]
        assert abs(float(p) - float(h.max())) <= 0.006
    assert {s[3] for s in said} <= {"dry", "ok", "wet"}
    watered = [s[3] for s in said if int(s[0]) < 25500]     # the evening of the demo day, just watered
    assert len(watered) >= 10 and set(watered) == {"wet"}


def test_train_bad_csv_one_line(tmp_path):
    cases = {
        "nolabel.csv": ("a,b\n1,2\n", "no column 'label'"),
        "text.csv": ("a,b,label\n1,x,dry\n", "line 2: a feature is not a number"),
        "few.csv": ("a,b,label\n" + "".join(f"{i},{i},dry\n" for i in range(20)) + "1,1,wet\n2,2,wet\n",
                    "too few rows for wet (2): each class needs at least 5"),
        "one.csv": ("a,label\n" + "".join(f"{i},dry\n" for i in range(20)), "only one class"),
    }
    for name, (text, msg) in cases.items():
        p = tmp_path / name
        p.write_text(text)
        r = motes("train", p, "--label", "label", "-o", tmp_path / "x.mote")
        assert r.returncode == 2, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("motes train: error:") and msg in lines[0], (name, r.stderr)
    assert not (tmp_path / "x.mote").exists()


def test_train_windows_small_cnn(tmp_path):
    """--window: windows of consecutive rows of one label into a 1-D CNN (Conv2D over time)."""
    rng = np.random.default_rng(0)
    t = np.arange(240) / 50
    rows = ["timestamp,x,y,label"]
    for label, f in (("slow", 1.0), ("fast", 6.0)):
        for i, ti in enumerate(t):
            rows.append(f"t{i},{1000 * np.sin(2 * np.pi * f * ti) + rng.normal(0, 50):.0f},"
                        f"{rng.normal(1000, 50):.0f},{label}")
    p = tmp_path / "moves.csv"
    p.write_text("\n".join(rows) + "\n")
    out = tmp_path / "moves.mote"
    r = motes("train", p, "--label", "label", "--window", 16, "--step", 4, "--epochs", 6, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "windows of 16 rows, 2 features (x, y)" in r.stdout
    model, _, _ = api.load_model(out)
    assert "CONV_2D" in [layer.op for layer in model.layers]
    assert model.tensors[model.inputs[0]].shape == (1, 16, 1, 2)
    assert model.meta["window"] == {"rows": 16, "step": 4}
    assert float(re.search(r"int8 ([\d.]+) %", r.stdout).group(1)) >= 90


COUNTER = """\
import time
n = 0
while True:
    n += 1
    print("n=%d v=%d" % (n, n * 2))
    time.sleep(0.02)
"""


def _rows(p: Path) -> int:
    return max(0, len(p.read_text().splitlines()) - 1) if p.exists() else 0


def _wait_rows(p: Path, n: int, proc, timeout=30):
    t0 = time.monotonic()
    while _rows(p) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "no rows arrived"
        time.sleep(0.1)


def _stderr_when_done(proc, timeout=60) -> str:
    """The process's stderr once it exits. The timeout is above record's own bounds (two
    waits of up to 10 s for the board to end its script, 5 s for the clean-up, on a
    loaded machine); past it the process dumps its threads' stacks into the failure."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        pytest.fail(f"motes record did not stop in {timeout} s:\n{proc.communicate()[1][-4000:]}")


def test_record_ctrl_c_and_lost_board_keep_rows(tmp_path):
    need_micropython()
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    out = tmp_path / "n.csv"
    folder = tmp_path / "board"
    with EmulatedBoard(folder, heap="128K") as b:
        env = dict(b.env(), PYTHONPATH=str(ROOT / "host"))    # --port @: joined without a soft reset
        # started as a script's background job (`motes record ... &`) is: SIGINT ignored,
        # which Python keeps; Ctrl-C must stop the recording all the same
        # (a shell's trap "" sets it and exec keeps it; no preexec_fn beside the board's threads)
        ignoring = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]
        proc = subprocess.Popen(ignoring + MOTES + ["record", "--port", "@", "--script", str(script), "--label", "on",
                                                    "-o", str(out)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        _wait_rows(out, 5, proc)
        proc.send_signal(signal.SIGINT)
        err = _stderr_when_done(proc)
        assert proc.returncode == 0, err
        kept = _rows(out)
        assert re.search(rf"{kept} rows .*stopped: interrupted", err), err
        lines = out.read_text().splitlines()
        assert lines[0] == "timestamp,n,v,label" and lines[1].endswith(",1,2,on")
        assert [int(ln.split(",")[1]) for ln in lines[1:]] == list(range(1, kept + 1))   # none lost, none twice
        s = SerialBoard(b.port, soft_reset=False)      # the script stopped: the board answers again
        try:
            assert s.run("print(6 * 7)").strip() == "42"
        finally:
            s.close()
        # the board goes away mid-recording (reset, cable): the rows so far stay, appended
        proc = subprocess.Popen(MOTES + ["record", "--port", "@", "--script", str(script), "--label", "on",
                                         "-o", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        _wait_rows(out, kept + 5, proc)
        b.kill()
        err = _stderr_when_done(proc)
        assert proc.returncode == 0, err
        assert "stopped: board lost" in err and "Traceback" not in err, err
        lines = out.read_text().splitlines()
        assert lines.count("timestamp,n,v,label") == 1 and len(lines) - 1 >= kept + 5


def test_ctrl_c_in_a_terminal_inside_emulate(tmp_path):
    """Ctrl-C reaches the whole process group: `motes emulate` keeps the board up while the
    recording inside it stops cleanly and says so."""
    need_micropython()
    script = tmp_path / "counter.py"
    script.write_text(COUNTER)
    out = tmp_path / "n.csv"
    proc = subprocess.Popen(MOTES + ["emulate", "--folder", str(tmp_path / "b"), "--"] + MOTES + [
        "record", "--port", "@", "--script", str(script), "--label", "x", "-o", str(out)], env=ENV,
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_rows(out, 5, proc)
    os.killpg(proc.pid, signal.SIGINT)                  # what a terminal's Ctrl-C does
    err = _stderr_when_done(proc)
    assert proc.returncode == 0, err
    assert re.search(rf"{_rows(out)} rows .*stopped: interrupted", err), err


def test_record_until_the_script_ends(tmp_path, monkeypatch):
    """A script that ends (or fails) ends the recording, its error in one line; the board
    answers the next command at once."""
    from motes.learn.record import record
    need_micropython()
    with EmulatedBoard(tmp_path / "b", heap="128K") as b:
        for k, v in b.env().items():
            monkeypatch.setenv(k, v)
        out = tmp_path / "r.csv"
        t0 = time.monotonic()
        r = record("@", out, "x", "print('a,b')\nfor i in range(3):\n    print('%d,%d' % (i, -i))\n")
        assert r["rows"] == 3 and r["stopped"] == "script ended" and not r["error"]
        r = record("@", out, "y", "print('a,b')\nprint('7,8')\n1 / 0\n")
        assert r["rows"] == 1 and "ZeroDivisionError" in r["error"]
        assert time.monotonic() - t0 < 10                 # no timeouts waiting for the prompt
        assert [ln.split(",")[1:] for ln in out.read_text().splitlines()[1:]] == [
            ["0", "0", "x"], ["1", "-1", "x"], ["2", "-2", "x"], ["7", "8", "y"]]
