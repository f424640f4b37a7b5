"""The runtime from ROMFS (host/motes/board/romfs.py): built as an image, mounted in
the unix MicroPython from an emulated flash partition, imported in place.
test_device_runtime.py runs the shared models from it in issue #3's heaps."""
from __future__ import annotations

import pytest

from motes.run import mpy_engine
from motes.board import romfs
from motes.compiler.graph import ModelError


def test_image_holds_the_files_and_mounts(tmp_path):
    files = {"lib/a.txt": b"hello", "lib/sub/b.bin": bytes(range(256)), "top.txt": b""}
    image = romfs.build_image(files)
    assert image[:3] == b"\xd2\xcd\x31"
    flash = romfs.emulated_flash(image)
    proc = mpy_engine.run_code(romfs.mount_code(flash) + """
import os
print(sorted(os.listdir("/rom")), sorted(os.listdir("/rom/lib")))
print(open("/rom/lib/a.txt").read(), len(open("/rom/lib/sub/b.bin", "rb").read()), open("/rom/top.txt").read() == "")
print(open("/rom/lib/sub/b.bin", "rb").read() == bytes(range(256)))
""")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    assert lines[0] == "['lib', 'top.txt'] ['a.txt', 'sub']"
    assert lines[1] == "hello 256 True"
    assert lines[2] == "True"


@pytest.mark.parametrize("name", ["", "lib//a", "lib/é.py"])
def test_image_refuses_bad_names(name):
    with pytest.raises(ModelError, match="ROMFS file name"):
        romfs.build_image({name: b"x"})


def test_image_refuses_a_file_over_a_folder():
    with pytest.raises(ModelError, match="puts a file where a folder is"):
        romfs.build_image({"lib": b"x", "lib/a": b"y"})


def test_runtime_imports_from_rom_in_place():
    # every runtime module is in the image, and motes is imported from /rom/lib
    files = romfs.runtime_files("x64")
    assert "lib/motes/net.mpy" in files and "lib/motes/__init__.mpy" in files
    proc = mpy_engine.run_code("""
import gc
gc.collect()
a = gc.mem_alloc()
import motes
gc.collect()
print(motes.__file__, motes.backend(), gc.mem_alloc() - a)
""", rom=True, heap="256K")
    assert proc.returncode == 0, proc.stderr
    where, backend, ram = proc.stdout.split()
    assert where == "/rom/lib/motes/__init__.mpy" and backend == "native"
    # the same import from the filesystem copies the bytecode into the heap
    proc = mpy_engine.run_code("""
import gc
gc.collect()
a = gc.mem_alloc()
import motes
gc.collect()
print(gc.mem_alloc() - a)
""", heap="256K")
    assert proc.returncode == 0, proc.stderr
    assert int(ram) < 0.8 * int(proc.stdout)


def test_motes_romfs_builds_an_image_that_runs(tmp_path, capsys):
    # `motes romfs` for the unix port's arch, with a model: mounted as the
    # emulated partition, the model loads from /rom and matches the host
    import numpy as np
    from conftest import shared_model
    from motes import api
    from motes.cli import main
    from motes.run.executor import Executor
    from motes.format import from_bytes
    conv = api.convert(shared_model("micro_speech_quantized"))
    model_path = tmp_path / "speech.mote"
    model_path.write_bytes(conv.data)
    out = tmp_path / "board.romfs"
    assert main(["romfs", "--arch", "x64", str(model_path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "with motes_native.mpy" in printed and "mpremote romfs deploy" in printed
    flash = romfs.emulated_flash(out.read_bytes())
    proc = mpy_engine.run_code(romfs.mount_code(flash) + """
import motes
net = motes.load("/rom/speech.mote", mode="streaming", verbose=False)
x = net.input_buffer()
for i in range(len(x)):
    x[i] = (i * 7) & 0xFF
print(motes.__file__, motes.backend(), list(net.predict_int8(None, [0] * 4)))
""", heap="64K")
    assert proc.returncode == 0, proc.stderr
    where, backend, values = proc.stdout.split(" ", 2)
    x = np.array([(i * 7) & 0xFF for i in range(1960)], dtype=np.uint8).view(np.int8)
    ref = Executor(from_bytes(conv.data)).run([x.reshape(1, 1960)])[0].ravel()
    assert where == "/rom/lib/motes/__init__.mpy" and backend == "native"
    assert eval(values) == ref.tolist()


def test_motes_romfs_refuses_what_is_not_a_model(tmp_path, capsys):
    from motes.cli import main
    bad = tmp_path / "x.mote"
    bad.write_bytes(b"not a model")
    assert main(["romfs", "--arch", "x64", str(bad), "-o", str(tmp_path / "o.romfs")]) == 2
    assert "x.mote" in capsys.readouterr().err
    assert not (tmp_path / "o.romfs").exists()
