"""The device runtime under real CircuitPython (its unix port, ../shared/circuitpython):
no native emitter, every array store range-checked, 32-bit floats in the
float32 build. Every shared model bit-exact with the host executor, in
resident and streaming mode, on the pure-Python kernels CircuitPython gets;
streaming in a fixed heap with the runtime as CircuitPython's own .mpy files
(what a deploy puts on a CIRCUITPY drive); every damaged file refused with the
words MicroPython's runtime uses."""
from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import ROOT, SHARED_MODELS, damaged_files, missing_tool, shared_mote
from motes.run import mpy_engine

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
    path, xs, refs = shared_mote(tmp_path, name, seed=11)
    modes = ["streaming"] if name == "person_detect" else ["resident", "streaming"]
    for mode in modes:
        info = mpy_engine.run(path, xs, heap="1M", mode=mode, source=True, measure=False, exe=exe)
        assert info["backend"] == "python" and info["mode"] == mode
        np.testing.assert_array_equal(info["outputs"][0].ravel(), refs[0])


def _cp_runtime():
    """The runtime as .mpy files from CircuitPython's own mpy-cross (cached), as deployed."""
    from motes.board import circuitpy
    cross = CP / "mpy-cross"
    if not cross.exists():
        missing_tool(f"CircuitPython's mpy-cross ({cross}) is missing: the tests need ../shared/circuitpython")
    return circuitpy.build(cross)


# Streaming mode in a fixed heap, runtime as CircuitPython .mpy (64-bit unix port:
# its objects are twice a board's words, so these are not a board's figures; the
# emulated 32-bit boards of test_boards.py are). Smallest heaps measured by
# bisection in 1K steps (zero input): micro_speech 64K (float32 build 76K:
# first-fit layout, not monotonic), kws 83K / 89K, person_detect 138K / 138K;
# the heaps below leave room for that.
CP_HEAPS = {"micro_speech_quantized": "80K", "mlperf_tiny_kws_ref_model": "96K", "person_detect": "144K"}


@pytest.mark.parametrize("exe", ["circuitpython", "circuitpython-float32"])
@pytest.mark.parametrize("name", sorted(CP_HEAPS))
def test_streaming_in_a_small_heap_under_circuitpython(tmp_path, exe, name):
    exe = _exe(exe)
    path, xs, refs = shared_mote(tmp_path, name, n=2)
    info = mpy_engine.run(path, xs, heap=CP_HEAPS[name], mode="streaming", measure=False, exe=exe,
                          runtime=_cp_runtime())
    assert info["backend"] == "python" and info["mode"] == "streaming"
    for ref, out in zip(refs, info["outputs"]):
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("mode", ["resident", "streaming"])
def test_damaged_files_refused_as_under_micropython(mode):
    """Every reproducer (tests/data/fuzz-repro, ../shared/fuzz-repro) gets from CircuitPython,
    both builds, the outcome and the words MicroPython's Python backend gives."""
    from motes.run import fuzz
    paths = list(damaged_files(".mote").values())
    want = fuzz.device_outcomes(paths, "python", mode=mode)
    for exe in ("circuitpython", "circuitpython-float32"):
        got = fuzz.device_outcomes(paths, "python", mode=mode, exe=_exe(exe))
        for p in paths:
            assert got[str(p)] == want[str(p)], (exe, p.name)
            assert got[str(p)][0] == "refused", (exe, p.name, got[str(p)])


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
