"""Every example, deployed with `motes deploy --run` to an emulated board, prints
what its main.py prints when run directly in the unix port, with no error.
(Each example's own test checks that those lines are right; this one checks the
way to the board: package.json complete, files in place, runtime from .mpy.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from motes.board import deploy, device_build
from motes.run import mpy_engine

MOTES = str(Path(sys.executable).with_name("motes"))
# the emulated board's heap: like a board's RAM, doubled for the 64-bit unix port's objects
HEAP = {"person_detection": "512K"}


@pytest.mark.parametrize("name", deploy.examples())
def test_example_runs_on_emulated_board(name, tmp_path):
    import shutil
    heap = HEAP.get(name, "256K")
    proc = subprocess.run([MOTES, "emulate", "--folder", str(tmp_path / "board"), "--heap", heap, "--",
                           MOTES, "deploy", "--example", name, "--port", "@", "--run"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stdout, proc.stdout[-3000:]
    flash = tmp_path / "board" / "flash"
    for dest, src in deploy.example_files(name):
        assert (flash / dest).read_bytes() == src.read_bytes()
    # the same main.py, run directly in the unix port from a copy of the board's files
    work = tmp_path / "direct"
    shutil.copytree(flash, work, ignore=shutil.ignore_patterns("lib"))
    direct = subprocess.run([mpy_engine.micropython_path(), "-X", f"heapsize={heap}", "-c",
                             "import main\nmain.main()"], cwd=work, capture_output=True, text=True,
                            env={"MICROPYPATH": f":{device_build.build('x64')}"}, timeout=600)
    assert direct.returncode == 0, direct.stdout[-2000:] + direct.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines and lines == direct.stdout.strip().splitlines()
