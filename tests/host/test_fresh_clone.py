"""A fresh clone without ../shared: the tests that need it skip, naming what is missing
(under CI=true they fail), and the models kept in tests/models are the real ones."""
from __future__ import annotations

import hashlib
import re

import pytest

import conftest


def test_vendored_models_are_the_ones_their_notice_names():
    rows = re.findall(r"^\| (\S+\.tflite) \| tensorflow/tflite-micro \| .* \| ([0-9a-f]{64}) \|$",
                      (conftest.VENDORED / "NOTICE.md").read_text(), re.M)
    assert {name for name, _ in rows} == {p.name for p in conftest.VENDORED.glob("*.tflite")}
    for name, digest in rows:
        assert hashlib.sha256((conftest.VENDORED / name).read_bytes()).hexdigest() == digest, name


def test_without_shared_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED_ROOT", tmp_path / "shared")
    monkeypatch.delenv("CI", raising=False)
    assert conftest.shared_model("hello_world_int8") == conftest.VENDORED / "hello_world_int8.tflite"
    with pytest.raises(pytest.skip.Exception, match=r"shared/models/person_detect.tflite is missing"):
        conftest.shared_model("person_detect")
    with pytest.raises(pytest.skip.Exception, match=r"shared/fuzz-repro is missing"):
        conftest.shared_path("fuzz-repro")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"person_detect.tflite is missing.*CI installs it"):
        conftest.shared_model("person_detect")
