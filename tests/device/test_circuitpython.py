"""The device runtime under real CircuitPython (its unix port, ../shared/circuitpython):
no native emitter, every array store range-checked, 32-bit floats in the
float32 build. Every shared model bit-exact with the host executor, in
resident and streaming mode, on the pure-Python kernels CircuitPython gets."""
from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import ROOT, SHARED_MODELS, missing_tool, shared_model
from motes import api
from motes.run import mpy_engine
from motes.run.executor import Executor
from motes.format import from_bytes

CP = ROOT.parent / "shared" / "circuitpython"


def _exe(name):
    exe = CP / name
    if not exe.exists():
        missing_tool(f"CircuitPython's unix port ({exe}) is missing: the tests need ../shared/circuitpython")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is not executable")
    return str(exe)


@pytest.mark.parametrize("exe", ["circuitpython", "circuitpython-float32"])
@pytest.mark.parametrize("name", SHARED_MODELS)
def test_every_model_bit_exact_under_circuitpython(tmp_path, exe, name):
    exe = _exe(exe)
    conv = api.convert(shared_model(name))
    path = tmp_path / "m.mote"
    path.write_bytes(conv.data)
    model = from_bytes(conv.data)
    shape = model.tensors[model.inputs[0]].shape
    xs = [np.random.default_rng(11).integers(-128, 128, size=shape, dtype=np.int8)]
    ref = Executor(model).run([xs[0]])[0].ravel()
    modes = ["streaming"] if name == "person_detect" else ["resident", "streaming"]
    for mode in modes:
        info = mpy_engine.run(path, xs, heap="1M", mode=mode, source=True, measure=False, exe=exe)
        assert info["backend"] == "python" and info["mode"] == mode
        np.testing.assert_array_equal(info["outputs"][0].ravel(), ref)


def _cp_drive(tmp_path, version: str):
    drive = tmp_path / "CIRCUITPY"
    drive.mkdir()
    (drive / "boot_out.txt").write_text(f"Adafruit CircuitPython {version} on 2025-10-17; Adafruit Feather RP2040 "
                                        "with rp2040\n")
    (drive / "code.py").write_text('print("Hello World!")\n')     # what a new board has
    return drive


def test_deploy_to_a_circuitpy_drive_runs_under_circuitpython(tmp_path, monkeypatch):
    """Only what CircuitPython can use: its own .mpy files (CircuitPython's mpy-cross), no viper
    or native module; the example as code.py; the board prints what MicroPython's prints."""
    import subprocess

    from motes.board import circuitpy, deploy, device_build
    from motes.board.transport import DriveBoard
    exe = _exe("circuitpython")
    cross = CP / "mpy-cross"
    monkeypatch.setenv(circuitpy.ENV_CROSS, str(cross))
    major, _ = circuitpy.cross_version(cross)
    drive = _cp_drive(tmp_path, f"{major}.0.3")
    said = []
    board = DriveBoard(drive)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")                    # no circup here
    deploy.deploy(board, example="soil_moisture", say=said.append, confirm=lambda names: said.append(names))
    assert ["code.py"] in said                                     # the board's own code.py: asked
    runtime = sorted((drive / "lib" / "motes").iterdir())
    mpys = [p for p in runtime if p.suffix == ".mpy"]
    assert {p.name for p in runtime} - {p.name for p in mpys} == {"deployed.json"}
    assert {p.stem for p in mpys} == {p.stem for p in circuitpy.sources()}
    assert not {"k_viper", "k_native", "dec_native"} & {p.stem for p in mpys}
    for p in mpys:
        head = p.read_bytes()[:3]
        assert head[:2] == b"C\x06" and head[2] >> 2 == 0, p       # CircuitPython's, no machine code
    assert not (drive / "lib" / "motes_native.mpy").exists() and not (drive / "main.py").exists()
    assert any("adafruit_dht" in s and "circup install adafruit_dht" in s for s in said if isinstance(s, str))
    # CircuitPython loads the .mpy files and runs code.py: MicroPython's output, line for line
    got = subprocess.run([exe, "-X", "heapsize=256K", "-c", "import code\ncode.main()"], cwd=drive,
                         env={"MICROPYPATH": str(drive / "lib")}, capture_output=True, text=True, timeout=120)
    want = subprocess.run([mpy_engine.micropython_path(), "-X", "heapsize=256K", "-c", "import main\nmain.main()"],
                          cwd=ROOT / "examples" / "soil_moisture", env={"MICROPYPATH": str(device_build.build("x64"))},
                          capture_output=True, text=True, timeout=120)
    lines = got.stdout.strip().splitlines()
    assert len(lines) == 96 and lines == want.stdout.strip().splitlines(), got.stderr


def test_circup_installs_the_examples_libraries(tmp_path, monkeypatch):
    from motes.board import circuitpy, deploy
    from motes.board.transport import DriveBoard
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "circup.log"
    (bin_dir / "circup").write_text(f"#!/bin/sh\necho \"$@\" > {log}\n")
    (bin_dir / "circup").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.delenv(circuitpy.ENV_CROSS, raising=False)
    monkeypatch.setattr(circuitpy.resources, "SHARED", None)     # no CircuitPython mpy-cross: .py source
    drive = _cp_drive(tmp_path, "9.2.1")
    said = []
    deploy.deploy(DriveBoard(drive), example="soil_moisture", say=said.append, confirm=lambda names: None)
    assert log.read_text().split() == ["--path", str(drive), "install", "adafruit_dht"]
    assert "runtime as .py source (no CircuitPython mpy-cross here" in said[1]
    names = {p.name for p in (drive / "lib" / "motes").iterdir()}
    assert "net.py" in names and not {"k_viper.py", "k_native.py", "dec_native.py"} & names
