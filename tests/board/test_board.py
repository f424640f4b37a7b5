"""The board workflow on an emulated board: the real MicroPython unix port behind a
pseudo-terminal, speaking the raw REPL like a board. `motes deploy`, mpremote
and mip talk to it exactly as they would to an ESP32 or RP2040 on USB."""
from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, missing_tool, need_micropython, shared_model
from motes import api
from motes.board import deploy, device_build
from motes.run import mpy_engine
from motes.board.transport import BoardError, DriveBoard, SerialBoard, parse_mpy
from motes.cli import main as motes_main
from motes.board.emulate import EmulatedBoard

SOIL = ROOT / "examples" / "soil_moisture"
MOTES = str(Path(sys.executable).with_name("motes"))
MPREMOTE = str(Path(sys.executable).with_name("mpremote"))


@pytest.fixture
def board(tmp_path):
    need_micropython()
    with EmulatedBoard(tmp_path / "board", heap="256K") as b:
        yield b


def connect(b: EmulatedBoard) -> SerialBoard:
    return SerialBoard(b.port, soft_reset=False)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def motes_file(tmp_path_factory) -> dict:
    """Two valid models of different sizes, to replace one with the other."""
    d = tmp_path_factory.mktemp("motes")
    out = {}
    for name in ("hello_world_int8", "mlperf_tiny_kws_ref_model"):
        out[name] = d / f"{name}.mote"
        out[name].write_bytes(api.convert(shared_model(name)).data)
    return out


def run_on_board(b: EmulatedBoard, code: str) -> str:
    s = connect(b)
    try:
        return s.run(code)
    finally:
        s.close()


def test_parse_mpy():
    assert parse_mpy(2822) == {"mpy_version": 6, "mpy_sub": 3, "arch": "x64"}     # the unix port
    assert parse_mpy(6 | 3 << 8 | 4 << 10)["arch"] == "armv6m"                    # RP2040
    assert parse_mpy(6 | 3 << 8 | 10 << 10)["arch"] == "xtensawin"                # ESP32
    assert parse_mpy(0)["arch"] is None


def test_runtime_choice_per_board():
    base = {"lib": "/lib", "implementation": "micropython"}
    items, notes = deploy.runtime_items(dict(base, mpy_version=6, mpy_sub=3, arch="x64"))
    names = {i.dest for i in items}
    assert "/lib/motes/net.mpy" in names and "/lib/motes_native.mpy" in names
    assert not any(n.endswith(".py") for n in names)
    # another .mpy ABI (older firmware, CircuitPython): source, which every version imports
    items, notes = deploy.runtime_items(dict(base, mpy_version=6, mpy_sub=1, arch="armv6m"))
    assert {i.dest for i in items} == {f"/lib/motes/{p.name}" for p in device_build.sources()}
    assert "6.1" in notes[0] and "source" in notes[0]
    # unknown .mpy version (a CIRCUITPY drive): source too
    items, notes = deploy.runtime_items(dict(base, mpy_version=None, mpy_sub=None, arch=None))
    assert {i.dest for i in items} == {f"/lib/motes/{p.name}" for p in device_build.sources()}
    assert "unknown" in notes[0]


def test_deploy_and_run_soil_example(board, tmp_path):
    s = connect(board)
    try:
        r = deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        assert r["copied"] == len(r["files"]) and r["unchanged"] == 0
        out = s.run(deploy.run_code("soil_moisture", "soil.mote"))
        again = deploy.deploy(s, example="soil_moisture", say=lambda m: None)
    finally:
        s.close()
    assert again["copied"] == 0 and again["unchanged"] == len(r["files"])   # only changes are copied
    # deploy notes what it wrote: its main.py is not the user's
    written = json.loads((board.flash / "lib" / "motes" / "deployed.json").read_text())["files"]
    assert written["main.py"][0] == (board.flash / "main.py").stat().st_size
    # the board's files are the example's and the runtime's, byte for byte
    for dest, src in deploy.example_files("soil_moisture"):
        assert sha(board.flash / dest) == sha(src)
    dev = device_build.build("x64")
    for p in (dev / "motes").glob("*.mpy"):
        assert sha(board.flash / "lib" / "motes" / p.name) == sha(p)
    assert sha(board.flash / "lib" / "motes_native.mpy") == sha(dev / "motes_native.mpy")
    # what the board printed equals the same script run directly in the unix port
    work = tmp_path / "direct"
    shutil.copytree(board.flash, work, ignore=shutil.ignore_patterns("lib"))
    direct = subprocess.run([mpy_engine.micropython_path(), "-X", "heapsize=256K", "-c", "import main\nmain.main()"],
                            cwd=work, env={"MICROPYPATH": f":{dev}"}, capture_output=True, text=True, timeout=120)
    lines = out.strip().splitlines()
    assert len(lines) == 96 and lines == direct.stdout.strip().splitlines(), direct.stderr
    assert all(re.search(r"-> (dry|ok|wet) \(", ln) for ln in lines)


def test_users_own_main_py_is_not_replaced_without_a_yes(board):
    (board.flash / "main.py").write_text("print('mine')\n")
    s = connect(board)
    try:
        with pytest.raises(BoardError, match="main.py was not written by motes deploy"):
            deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        assert sorted(p.name for p in board.flash.iterdir()) == ["lib", "main.py"]
        assert not any((board.flash / "lib").iterdir())
        asked = []
        deploy.deploy(s, example="soil_moisture", say=lambda m: None, confirm=asked.append)
    finally:
        s.close()
    assert asked == [["main.py"]] and (board.flash / "main.py").read_bytes() == (SOIL / "main.py").read_bytes()


def test_serial_lines_end_in_cr_lf(board):
    """As a board's firmware writes them: mpremote repl and terminals do not staircase.
    And Ctrl-C interrupts a running program."""
    import os
    import select
    import termios
    import time
    import tty
    fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        termios.tcflush(fd, termios.TCIFLUSH)

        def exchange(data: bytes) -> bytes:
            os.write(fd, data)
            out, end = b"", time.monotonic() + 10
            while not out.endswith(b">>> ") and time.monotonic() < end:
                if select.select([fd], [], [], 0.2)[0]:
                    out += os.read(fd, 4096)
            return out
        out = exchange(b"print('a')\r") + exchange(b"for i in range(3): print(i * 'x')\r\r")
        os.write(fd, b"while True: pass\r\r")
        time.sleep(0.3)
        stopped = exchange(b"\x03")                     # Ctrl-C stops a running program, as on a board
    finally:
        os.close(fd)
    assert b"\r\na\r\n>>> " in out and b"\r\n\r\nx\r\nxx\r\n>>> " in out
    assert out.count(b"\n") == out.count(b"\r\n") and b"\r\r" not in out     # every LF after one CR
    assert b"KeyboardInterrupt" in stopped and stopped.endswith(b"\r\n>>> ")


def test_ctrl_c_at_any_moment_never_kills_the_board(board):
    """Tools send Ctrl-C to get the raw REPL, often just after leaving it or after a
    run. Between runs the unix port leaves SIGINT at its default action (kill): a
    Ctrl-C at any moment must interrupt or be read, and never kill the board."""
    import termios
    import time
    from motes.board import emulate
    s = connect(board)
    try:
        if emulate._PROC:
            # the switch back to the friendly REPL turns the terminal's signals on (mode_orig)
            # while SIGINT still kills: the terminal itself must never make the signal
            s.t.serial.write(b"\x02")
            s.t.read_until(1, b">>> ", timeout=5)
            s.t.serial.write(b"while True: pass\r\r")
            time.sleep(0.3)
            assert not termios.tcgetattr(board._line.board)[3] & termios.ISIG
            s.t.serial.write(b"\x03")
            assert b"KeyboardInterrupt" in s.t.read_until(1, b">>> ", timeout=5)
            s.t.enter_raw_repl(soft_reset=False)
        for i in range(20):
            s.t.serial.write(b"\x02")                    # leave the raw REPL (as close() does) ...
            for _ in range(50):                         # ... with Ctrl-Cs all through the switch
                s.t.serial.write(b"\x03")
                time.sleep(0.0002)
            assert board.running, f"a Ctrl-C killed the board (round {i + 1})"
            s.t.enter_raw_repl(soft_reset=False)
        assert s.run("print(6 * 7)").strip() == "42"
    finally:
        s.close()


def test_user_model_replaces_example_model(board, motes_file):
    s = connect(board)
    try:
        deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        r = deploy.deploy(s, motes_file["hello_world_int8"], example="soil_moisture", say=lambda m: None)
        out = s.run("import motes\nnet = motes.load('soil.mote', verbose=False)\nprint(list(net.predict_int8([0], [0])))")
    finally:
        s.close()
    assert r["copied"] == 1                                     # only the model changed
    assert sha(board.flash / "soil.mote") == sha(motes_file["hello_world_int8"])
    model, _, _ = api.load_model(motes_file["hello_world_int8"])
    want = api.run(model, np.zeros((1, 1), np.int8))[0]
    assert out.strip() == str([int(v) for v in want.ravel()])


def test_cut_cable_during_copy_keeps_old_model(tmp_path, motes_file):
    """The board vanishes halfway through copying a new model: the old one still loads."""
    need_micropython()
    old, new = motes_file["hello_world_int8"], motes_file["mlperf_tiny_kws_ref_model"]
    folder = tmp_path / "board"
    with EmulatedBoard(folder) as b:
        s = connect(b)
        deploy.deploy(s, old, say=lambda m: None)
        s.close()
        s = connect(b)
        cut = []

        class Cutter(deploy.Progress):
            def bar(self, dest):
                def update(done, total):
                    if dest.endswith(".mote") and done > total // 2 and not cut:
                        cut.append(done)
                        b.kill()                          # the cable is pulled
                return update
        with pytest.raises(BoardError, match="lost the connection"):
            # the runtime is already there: only the model is copied
            deploy.deploy(s, new, say=lambda m: None, progress=Cutter())
        s._close_quietly()
        assert cut, "the copy finished before the cut"
    flash = folder / "flash"
    target = flash / new.name
    # the new model went to its own name; keep the old model's name for the real check
    assert not target.exists() or sha(target) != sha(new)
    part = flash / (new.name + ".part")
    assert part.exists() and 0 < part.stat().st_size < new.stat().st_size
    assert sha(flash / old.name) == sha(old)
    with EmulatedBoard(folder) as b:
        out = run_on_board(b, f"import motes\nnet = motes.load({old.name!r}, verbose=False)\nprint(len(net.predict([1.0])))")
        assert out.strip() == "1"
        s = connect(b)
        try:
            r = deploy.deploy(s, new, say=lambda m: None)     # the retry cleans up and finishes
        finally:
            s.close()
    assert r["copied"] == 1 and not part.exists() and sha(target) == sha(new)


def test_cut_cable_while_replacing_model_in_place(tmp_path, motes_file):
    """Same cut, but the new model replaces the old one under the same name (the
    example's soil.mote): the old soil.mote must stay whole and loadable."""
    need_micropython()
    folder = tmp_path / "board"
    new = motes_file["mlperf_tiny_kws_ref_model"]
    with EmulatedBoard(folder) as b:
        s = connect(b)
        deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        s.close()
        s = connect(b)

        class Cutter(deploy.Progress):
            def bar(self, dest):
                def update(done, total):
                    if dest == "soil.mote" and done > total // 2:
                        b.kill()
                return update
        with pytest.raises(BoardError):
            deploy.deploy(s, new, example="soil_moisture", say=lambda m: None, progress=Cutter())
        s._close_quietly()
    assert sha(folder / "flash" / "soil.mote") == sha(SOIL / "soil.mote")
    with EmulatedBoard(folder) as b:
        out = run_on_board(b, "import motes\nnet = motes.load('soil.mote', verbose=False)\nprint(net.meta['labels'])")
    assert "dry" in out


def test_recovers_from_cut_between_renames(board):
    """A FAT board replaces a file by two renames; a cut between them leaves only
    soil.mote.old: the next deploy puts it back before anything else."""
    s = connect(board)
    try:
        deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        (board.flash / "soil.mote").rename(board.flash / "soil.mote.old")
        (board.flash / "soil.mote.part").write_bytes(b"half a model")
        r = deploy.deploy(s, example="soil_moisture", say=lambda m: None)
    finally:
        s.close()
    assert r["copied"] == 0                         # the recovered file is the example's own
    assert sha(board.flash / "soil.mote") == sha(SOIL / "soil.mote")
    assert not (board.flash / "soil.mote.part").exists() and not (board.flash / "soil.mote.old").exists()


def test_stale_runtime_source_removed(board):
    (board.flash / "lib" / "motes").mkdir(parents=True)
    (board.flash / "lib" / "motes" / "net.py").write_text("raise ImportError('stale')\n")
    s = connect(board)
    try:
        r = deploy.deploy(s, example="soil_moisture", say=lambda m: None)
    finally:
        s.close()
    assert r["removed"] == 1 and not (board.flash / "lib" / "motes" / "net.py").exists()


def test_bad_model_is_refused_before_anything_is_copied(board, tmp_path):
    bad = tmp_path / "broken.mote"
    bad.write_bytes((SOIL / "soil.mote").read_bytes()[:-10])
    s = connect(board)
    try:
        with pytest.raises(BoardError, match="not a valid .mote"):
            deploy.deploy(s, bad, example="soil_moisture", say=lambda m: None)
    finally:
        s.close()
    assert sorted(p.name for p in board.flash.iterdir()) == ["lib"]


def test_cli_deploy_run_inside_emulate(tmp_path):
    need_micropython()
    proc = subprocess.run([MOTES, "emulate", "--folder", str(tmp_path / "b"), "--heap", "128K", "--",
                           MOTES, "deploy", "--example", "soil_moisture", "--port", "@", "--run"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "micropython 1.29" in proc.stderr and "copied" in proc.stderr
    assert len([ln for ln in proc.stdout.splitlines() if "-> " in ln]) == 96
    assert "water me" in proc.stdout
    assert not (tmp_path / "b" / "port").exists()             # the board is stopped after


def test_cli_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MOTES_PORT", raising=False)
    assert motes_main(["deploy", "--example", "soil_moisture", "--port", "@"]) == 2
    assert "motes emulate" in capsys.readouterr().err
    assert motes_main(["deploy", "--port", "/dev/nonexistent-port"]) == 2
    assert "nothing to deploy" in capsys.readouterr().err
    assert motes_main(["deploy", "--example", "nope", "--drive", str(tmp_path)]) == 2
    assert "soil_moisture" in capsys.readouterr().err          # lists the examples
    assert motes_main(["deploy", "--example", "soil_moisture", "--port", "/dev/nonexistent-port"]) == 2
    err = capsys.readouterr().err
    assert "cannot open /dev/nonexistent-port" in err and "plugged in" in err


def test_circuitpy_drive(tmp_path):
    drive = tmp_path / "CIRCUITPY"
    drive.mkdir()
    (drive / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\n")
    b = DriveBoard(drive)
    assert b.info["implementation"] == "circuitpython" and b.info["version"] == "9.2.1"
    r = deploy.deploy(b, example="soil_moisture", say=lambda m: None)
    assert (drive / "lib" / "motes" / "net.py").exists() and not (drive / "lib" / "motes_native.mpy").exists()
    assert sha(drive / "soil.mote") == sha(SOIL / "soil.mote")
    assert r["copied"] == len(r["files"])
    assert deploy.deploy(b, example="soil_moisture", say=lambda m: None)["copied"] == 0
    # the source runtime as copied to the drive runs (MicroPython here; CircuitPython imports the same)
    out = subprocess.run([mpy_engine.micropython_path(), "-c", "import motes\nnet = motes.load('soil.mote', "
                          "verbose=False)\nprint(motes.backend(), net.meta['labels'])"], cwd=drive,
                         env={"MICROPYPATH": "lib"}, capture_output=True, text=True, timeout=60)
    assert "['dry', 'ok', 'wet']" in out.stdout, out.stderr
    # an interrupted copy (the drive vanishes) leaves the old file whole
    (drive / "soil.mote").write_bytes(b"MOTE-old")

    class Boom(deploy.Progress):
        def bar(self, dest):
            def update(done, total):
                raise OSError(5, "Input/output error (drive removed)")
            return update
    with pytest.raises(OSError):
        deploy.deploy(b, example="soil_moisture", say=lambda m: None, progress=Boom())
    assert (drive / "soil.mote").read_bytes() == b"MOTE-old"
def test_mip_install_runtime_from_repository(board):
    """`mpremote mip install` of the runtime: from a checkout, and over HTTP like github: URLs."""
    assert deploy.mip_package("device/") == (ROOT / "package.json").read_text(), "make format-doc"
    assert deploy.mip_package("") == (ROOT / "device" / "package.json").read_text(), "make format-doc"
    proc = subprocess.run([MPREMOTE, "connect", board.port, "resume", "mip", "install",
                           str(ROOT / "package.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for p in device_build.sources():
        assert sha(board.flash / "lib" / "motes" / p.name) == sha(p)
    shutil.rmtree(board.flash / "lib" / "motes")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/device/package.json"
        proc = subprocess.run([MPREMOTE, "connect", board.port, "resume", "mip", "install", url],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        url = f"http://127.0.0.1:{server.server_address[1]}/examples/soil_moisture/package.json"
        proc = subprocess.run([MPREMOTE, "connect", board.port, "resume", "mip", "install", "--target", ".",
                               url], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        server.shutdown()
    for p in device_build.sources():
        assert sha(board.flash / "lib" / "motes" / p.name) == sha(p)
    out = run_on_board(board, "import motes\nnet = motes.load('soil.mote', verbose=False)\nprint(motes.backend(), net.meta['labels'])")
    backend, labels = out.strip().split(" ", 1)
    assert labels == "['dry', 'ok', 'wet']" and backend in ("viper", "python")   # source, no natmod


def test_repl_with_model(motes_file):
    need_micropython()
    from motes.cli.board_verbs import repl_command
    cmd, env = repl_command(str(motes_file["hello_world_int8"]), "256K", None)
    proc = subprocess.run(cmd, input="print('out', list(net.predict_int8([0], [0])))\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    model, _, _ = api.load_model(motes_file["hello_world_int8"])
    want = int(api.run(model, np.zeros((1, 1), np.int8))[0].ravel()[0])
    assert "net is loaded" in proc.stdout
    assert f"out [{want}]" in proc.stdout


def test_the_emulated_board_is_a_sandbox(board, tmp_path):
    # its / is its flash folder: no path a board script or mpremote names reaches the PC's files
    outside = tmp_path / "outside.txt"
    out = run_on_board(board, f"""
import os
print(sorted(os.listdir('/')))
for p in ('/../../escape.txt', '../../../escape2.txt'):
    with open(p, 'w') as f:
        f.write('x')
try:
    open({str(outside)!r}, 'w')     # a PC path: inside the flash, where its folders do not exist
    print('WROTE IT')
except OSError:
    pass
os.mkdir('/d')
os.chdir('/d')
os.chdir('../..')
print(os.getcwd())
try:
    open('/etc/passwd')
    print('READ THE PC')
except OSError:
    print('no /etc/passwd')
os.rename('/escape.txt', '/renamed.txt')
""")
    lines = out.strip().splitlines()
    assert lines[0] == "['lib']" and lines[1] == "/" and lines[2] == "no /etc/passwd", out
    flash = board.flash
    assert (flash / "renamed.txt").exists() and (flash / "escape2.txt").exists()
    assert "WROTE IT" not in out and not outside.exists()
    assert not (flash.parent.parent / "escape.txt").exists()
    src = tmp_path / "note.txt"
    src.write_text("hello")
    proc = subprocess.run([MPREMOTE, "connect", board.port, "resume", "fs", "cp", str(src), ":/../note.txt"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (flash / "note.txt").read_text() == "hello"


def test_stray_copies_are_removed_by_the_next_deploy(board):
    """Cut copies of files this deploy does not write (an old runtime module, another
    model) are removed too, in every folder it writes to (issue #14)."""
    s = connect(board)
    try:
        deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        lib = board.flash / "lib" / "motes"
        strays = [lib / "gone.mpy.part", lib / "net.mpy.old", board.flash / "other.mote.part"]
        for p in strays:
            p.write_bytes(b"half a file")
        r = deploy.deploy(s, example="soil_moisture", say=lambda m: None)
    finally:
        s.close()
    assert r["copied"] == 0
    assert not any(p.exists() for p in strays), [p.name for p in strays if p.exists()]
    assert (lib / "net.mpy").exists()
    assert not [p for p in board.flash.rglob("*.part")]


def test_sigkill_of_deploy_at_any_point_keeps_the_old_model(tmp_path, motes_file):
    """A real `motes deploy` process killed (SIGKILL) at several points while it
    replaces soil.mote: each time the board (started again on the same flash: the
    emulated terminal does not outlive its user's death, a USB board would) still
    loads soil.mote, the old model or, once the copy is done, the new one; the next
    deploy finishes and leaves no .part or .old behind (issue #14)."""
    import signal
    import time
    need_micropython()
    folder = tmp_path / "board"
    new = ROOT / "examples" / "person_detection" / "person.mote"    # 210 KB: a copy that takes a while
    old_sha, new_sha = sha(SOIL / "soil.mote"), sha(new)
    with EmulatedBoard(folder) as b:
        s = connect(b)
        deploy.deploy(s, example="soil_moisture", say=lambda m: None)
        s.close()
    kills = cut = 0
    part = folder / "flash" / "soil.mote.part"
    # killed before the copy (plain delays), then while soil.mote.part grows
    for k, delay in enumerate([0.3, 0.6, 0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0]):
        with EmulatedBoard(folder) as b:
            proc = subprocess.Popen([sys.executable, "-m", "motes.cli", "deploy", str(new), "--example",
                                     "soil_moisture", "--port", "@"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=b.env())
            if k < 2:
                time.sleep(delay)
            else:
                t0 = time.time()
                while not part.exists() and proc.poll() is None and time.time() - t0 < 60:
                    time.sleep(0.002)
                time.sleep(delay)
            done = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += not done
        assert sha(folder / "flash" / "soil.mote") in (old_sha, new_sha)
        cut += part.exists()
        with EmulatedBoard(folder, heap="512K") as b:
            out = run_on_board(b, "import motes\nnet = motes.load('soil.mote', verbose=False)\nprint(len(net.ops))")
        assert out.strip().isdigit(), out
        if sha(folder / "flash" / "soil.mote") == new_sha:
            break
    assert kills >= 2 and cut, f"the kills came too late ({kills} kills, {cut} mid-copy)"
    print(f"{kills} kills, {cut} of them mid-copy")
    with EmulatedBoard(folder) as b:
        s = connect(b)
        try:
            deploy.deploy(s, new, example="soil_moisture", say=lambda m: None)
        finally:
            s.close()
    assert sha(folder / "flash" / "soil.mote") == new_sha
    assert not list((folder / "flash").rglob("*.part")) and not list((folder / "flash").rglob("*.old"))
