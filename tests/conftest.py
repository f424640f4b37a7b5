"""Shared test fixtures: paths to the shared real models and the op-coverage models."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ROOT = ROOT.parent / "shared"       # reference models, boards, CircuitPython: beside the project
SHARED = SHARED_ROOT / "models"
VENDORED = ROOT / "tests" / "models"
SHARED_MODELS = ["hello_world_int8", "micro_speech_quantized", "mlperf_tiny_kws_ref_model", "person_detect"]


def missing_tool(why: str | None) -> None:
    """A build tool or package a test needs is absent: skip on a developer's
    machine, fail in CI (whose set-up installs everything)."""
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why}: CI installs it ('make setup'), so this is a set-up bug", pytrace=False)
    pytest.skip(why)


def need_micropython() -> None:
    """The MicroPython unix port (the emulated board, --engine micropython): else skip (CI: fail)."""
    from motes.run import mpy_engine
    try:
        mpy_engine.micropython_path()
    except Exception as e:
        missing_tool(str(e))


def shared_path(rel: str) -> Path:
    """A file or folder of ../shared (models, boards, circuitpython, fuzz-repro...): on a
    fresh clone without it the test skips, saying what is missing; under CI=true it fails."""
    path = SHARED_ROOT / rel
    if not path.exists():
        missing_tool(f"{path} is missing: these tests need the shared folder ../shared beside the project")
    return path


def shared_model(name: str) -> Path:
    """A reference model: ../shared/models, else the copies in tests/models (hello_world,
    micro_speech: Apache-2.0, provenance in tests/models/NOTICE.md), else skip (CI: fail)."""
    path = SHARED_ROOT / "models" / f"{name}.tflite"
    if path.exists():
        return path
    vendored = VENDORED / f"{name}.tflite"
    if vendored.exists():
        return vendored
    return shared_path(f"models/{name}.tflite")


def shared_mote(tmp_path: Path, name: str, n: int = 1, seed: int = 5):
    """A shared model converted to tmp_path/m.mote, n seeded random int8 inputs, and the
    host executor's output for each (the reference every runtime must match bit for bit)."""
    import numpy as np
    from motes import api
    from motes.format import from_bytes
    from motes.run.executor import Executor
    data = api.convert(shared_model(name)).data
    path = tmp_path / "m.mote"
    path.write_bytes(data)
    model = from_bytes(data)
    shape = model.tensors[model.inputs[0]].shape
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]
    ex = Executor(model)
    return path, xs, [ex.run([x])[0].ravel() for x in xs]


def board_files(example: str) -> list[str]:
    """What an example's package.json sends to the board (tests/examples/test_examples_package.py
    checks that this is exactly what its main.py needs)."""
    import json
    pkg = json.loads((ROOT / "examples" / example / "package.json").read_text())
    return [dst for dst, _ in pkg["urls"]]


def trained_example(tmp_path_factory, example: str):
    """An example's train.py run into a fresh folder (its train(folder, quiet=True)), with the
    example's board-side modules (the .py files of package.json) beside what it wrote:
    (folder, what train() returned)."""
    import shutil
    src = ROOT / "examples" / example
    folder = tmp_path_factory.mktemp(example)
    result = example_module("train", src).train(folder, quiet=True)
    for name in board_files(example):
        if name.endswith(".py"):
            shutil.copy(src / name, folder / name)
    return folder, result


def damaged_files(suffix: str) -> dict[str, Path]:
    """name -> path of the damaged-file reproducers: those vendored in tests/data/fuzz-repro,
    and those of ../shared/fuzz-repro when it is there (the larger ones live only there)."""
    local = ROOT / "tests" / "data" / "fuzz-repro"
    shared = ROOT.parent / "shared" / "fuzz-repro"
    found = {p.name: p for p in sorted(local.glob(f"*{suffix}"))}
    if shared.is_dir():
        found.update({p.name: p for p in sorted(shared.glob(f"*{suffix}"))})
    return found


@pytest.fixture(scope="session")
def opmodel_cache() -> Path:
    """Built op-coverage models are kept between runs (keyed by their source hash)."""
    path = Path(os.environ.get("MOTES_OPMODELS_CACHE", ROOT / ".cache" / "opmodels"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def example_module(name: str, folder: Path):
    """Import examples/<x>/<name>.py (or a copy in `folder`) as a fresh module. Its folder
    is on sys.path while it loads (train.py imports data.py...), and the sibling modules it
    imported are taken out again: several examples have a data.py."""
    spec = importlib.util.spec_from_file_location(f"{folder.name}_{name}", folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    siblings = {p.stem for p in folder.glob("*.py")}
    saved = {k: sys.modules.pop(k) for k in siblings if k in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(folder))
        for k in siblings:
            sys.modules.pop(k, None)
        sys.modules.update(saved)
    return mod


# Layers of the suite (`make test-fast` leaves out `slow`): what a file needs and costs.
# slow: trains Keras models, boots emulated boards one after another, builds wheels.
SLOW = {"test_boards", "test_examples_board", "test_package", "test_record_train", "test_compress",
        "test_example_digits", "test_example_gesture", "test_example_hello_sine", "test_example_soil",
        "test_example_person_detection", "test_opmodels", "test_circuitpython", "test_report_html",
        "test_fuzz", "test_retrain", "test_board"}
# single slow cases in otherwise quick files (node id substrings): person_detect on the pure-Python
# device backend, the entropy decoders in the M0 emulator, viper's requantization on numpy words
SLOW_CASES = ("person_detect-streaming-python", "person_detect-resident-python", "test_entropy_decoders",
              "test_requant_block_on_int32_words_numpy")
TENSORFLOW = {"test_compress", "test_record_train", "test_example_digits", "test_example_gesture",
              "test_example_hello_sine", "test_example_soil", "test_opmodels", "test_evaluate", "test_retrain"}


# arm_gcc: builds ARM code (arm-none-eabi-gcc: the M0 emulator's kernels, the boards' .mpy and firmware)
ARM_GCC = {"test_m0", "test_boards"}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes of training, emulated boards or packaging (make test-fast skips)")
    config.addinivalue_line("markers", "tensorflow: needs TensorFlow (pip install 'motes[train]')")
    config.addinivalue_line("markers", "arm_gcc: needs arm-none-eabi-gcc (make setup installs it)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        stem = Path(str(item.fspath)).stem
        if stem in SLOW or any(k in item.nodeid for k in SLOW_CASES):
            item.add_marker(pytest.mark.slow)
        if stem in TENSORFLOW:
            item.add_marker(pytest.mark.tensorflow)
        if stem in ARM_GCC:
            item.add_marker(pytest.mark.arm_gcc)
