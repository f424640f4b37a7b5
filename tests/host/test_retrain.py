"""Retraining an example never rewrites its committed files unless asked (--write)."""
from __future__ import annotations

import argparse
import re

from conftest import ROOT
from motes.learn import retrain


def _args(*argv):
    p = argparse.ArgumentParser()
    retrain.add_options(p)
    return p.parse_args(list(argv))


def test_output_folder(tmp_path, capsys):
    example = tmp_path / "example"
    with retrain.output_folder(_args(), example) as out:
        (out / "model.keras").write_text("new")
        temp = out
    assert not temp.exists() and not example.exists()
    assert "nothing here was changed; --write replaces" in capsys.readouterr().out
    with retrain.output_folder(_args("--write"), example) as out:
        assert out == example
    with retrain.output_folder(_args("--out", str(tmp_path / "new")), example) as out:
        assert out == tmp_path / "new"


def test_every_train_py_takes_its_folder_from_retrain():
    for path in sorted((ROOT / "examples").glob("*/train.py")):
        text = path.read_text()
        main = text[text.index("def main("):]
        assert "retrain.add_options(p)" in main and "retrain.output_folder(a, HERE)" in main, path
        assert not re.search(r"add_argument\(\"--out\", default=", text), path
