"""examples/person_detection: import the shared person_detect.tflite, check the
two test images against TensorFlow Lite Micro, then run main.py in the real
MicroPython unix port, in streaming mode as on a board, and check its lines."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from conftest import ROOT, SHARED, board_files, example_module as _module, shared_model
from motes.run import mpy_engine
from motes.format import from_bytes
from tflm import tflm_run

EXAMPLE = ROOT / "examples" / "person_detection"
TESTDATA = SHARED / "testdata" / "person_detection"
LINE = re.compile(r"^(\w+\.raw): (person|no person) \(person ([\d.]+), no person ([\d.]+)\)$")
EXPECTED = {"person.raw": "person", "no_person.raw": "no person"}
BOARD_FILES = board_files("person_detection")




@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("person")
    tflite = shared_model("person_detect")
    result = _module("convert", EXAMPLE).convert(tflite, TESTDATA, folder, quiet=True)
    shutil.copy(EXAMPLE / "main.py", folder / "main.py")
    tflm = {}
    for name in EXPECTED:
        x = np.frombuffer((folder / name).read_bytes(), np.int8).reshape(1, 96, 96, 1)
        tflm[name] = tflm_run(tflite, [x])[0].ravel()
    return folder, result, tflm


def test_images_classified_like_tflm(converted):
    _, r, tflm = converted
    for name, label in EXPECTED.items():
        assert r["results"][name]["label"] == label
        assert r["results"][name]["int8"] == tflm[name].tolist()      # bit-exact with TFLM
    assert tflm["person.raw"].tolist() == [-113, 113] and tflm["no_person.raw"].tolist() == [57, -57]


def test_output_is_a_softmax_over_256_steps(converted):
    # main.py turns the int8 outputs into scores as (v + 128) / 256: TFLite's int8
    # SOFTMAX output always has scale 1/256 and zero point -128.
    folder, _, _ = converted
    model = from_bytes((folder / "person.mote").read_bytes())
    t = model.tensors[model.outputs[0]]
    assert t.scale == pytest.approx(1 / 256) and t.zero_point == -128
    assert model.meta["labels"] == ["no person", "person"]


def test_committed_files_are_what_convert_writes(converted):
    folder, _, _ = converted
    # (no assert of the bytes themselves: under CI=true pytest diffs the two
    # 210 KB reprs in full, which takes hours)
    for name in ("person.mote", "person.raw", "no_person.raw"):
        if (EXAMPLE / name).read_bytes() != (folder / name).read_bytes():
            pytest.fail(f"examples/person_detection/{name} is not what convert.py writes now: "
                        "run it again there (../../.venv/bin/python convert.py) and commit the files")
    for name, src in (("person.raw", "person_96x96_u8_topdown.raw"),
                      ("no_person.raw", "no_person_96x96_u8_topdown.raw")):
        if (EXAMPLE / name).read_bytes() != (TESTDATA / src).read_bytes():
            pytest.fail(f"examples/person_detection/{name} is not the shared test image {src}")
    notice = (EXAMPLE / "NOTICE.md").read_text()
    assert "Apache License" in notice and "Version 2.0" in notice
    assert "808cfdfc0cf3a6fa6f6fa26bfa379ea97c16d5db7334637766e39c3408502e9d" in notice
    assert "90b983c2b3f1480642e040bbd2ddb37b998f3424" in notice


def _check_lines(stdout, tflm, mode):
    lines = [ln for ln in stdout.splitlines() if not ln.startswith("  ")]   # thumbnails are indented
    assert lines[0].startswith("<motes.Net person_detect: 31 layers, input 1x96x96x1, output 1x2"), lines[0]
    assert "%s mode" % mode in lines[0], lines[0]
    assert len(lines) == 3
    for ln, name in zip(lines[1:], ("person.raw", "no_person.raw")):
        m = LINE.match(ln)
        assert m, ln
        no, yes = ((tflm[name].astype(int) + 128) / 256).tolist()
        assert m.group(1) == name and m.group(2) == EXPECTED[name]
        assert abs(float(m.group(3)) - yes) < 0.006 and abs(float(m.group(4)) - no) < 0.006


def test_main_streaming_in_micropython_matches_tflm(converted):
    # 192 KB: too little for resident mode (~290 KB), so motes.load picks streaming,
    # as it must on most boards. The thumbnails are 24 rows of 48 characters each.
    folder, _, tflm = converted
    code = "import os\nsys.path.insert(0, os.getcwd())\nimport main\nmain.main()\n"
    proc = mpy_engine.run_code(code, heap="192K", cwd=folder, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_lines(proc.stdout, tflm, "streaming")
    thumbs = [ln for ln in proc.stdout.splitlines() if ln.startswith("  ")]
    assert len(thumbs) == 48 and all(len(ln) == 50 for ln in thumbs)


def test_committed_files_run_on_the_board(converted, tmp_path):
    _, _, tflm = converted
    for name in BOARD_FILES:
        shutil.copy(EXAMPLE / name, tmp_path / name)
    code = "import os\nsys.path.insert(0, os.getcwd())\nimport main\nmain.main(show=False)\n"
    proc = mpy_engine.run_code(code, heap="1M", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check_lines(proc.stdout, tflm, "resident")
