"""What every example's package.json must hold, checked once for all of them (each
example's own test checks what its main.py prints). The list is what mip and
`motes deploy --example` copy to a board, so it must name exactly the files the
board needs: main.py, every module of the folder it imports (and theirs), and
every file of the folder the board code names (the model, recorded data); and
nothing only the PC uses (train.py, model.keras, calib.npy ...)."""
from __future__ import annotations

import ast
import json

import pytest

from conftest import ROOT
from motes.format import from_bytes

EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/package.json"))
PC_ONLY = {"train.py", "data.py", "record.py", "record_day.py", "convert.py", "model.keras", "calib.npy",
           "requirements.txt", "package.json", "README.md", "NOTICE.md"}


def _needed(folder) -> set[str]:
    """main.py, the folder's modules it imports (transitively), and the folder's files
    named by a string in that code."""
    files = {p.name for p in folder.iterdir() if p.is_file()}
    need, todo = set(), ["main.py"]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        for node in ast.walk(ast.parse((folder / name).read_text())):
            if isinstance(node, ast.Import):
                todo += [f"{a.name}.py" for a in node.names if f"{a.name}.py" in files]
            elif isinstance(node, ast.ImportFrom) and node.module and f"{node.module}.py" in files:
                todo.append(f"{node.module}.py")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in files:
                need.add(node.value)
    return need


def test_every_example_is_here():
    assert {"digits", "gesture", "hello_sine", "person_detection", "soil_moisture"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_package_json_lists_exactly_the_board_files(name):
    folder = ROOT / "examples" / name
    pkg = json.loads((folder / "package.json").read_text())
    listed = [dst for dst, _ in pkg["urls"]]
    assert all(dst == src and (folder / src).is_file() for dst, src in pkg["urls"]), pkg["urls"]
    assert len(set(listed)) == len(listed)
    assert set(listed) == _needed(folder), "package.json against what main.py needs"
    assert not set(listed) & PC_ONLY
    motes = [f for f in listed if f.endswith(".mote")]
    assert len(motes) == 1
    assert from_bytes((folder / motes[0]).read_bytes(), motes[0]).meta.get("name")
