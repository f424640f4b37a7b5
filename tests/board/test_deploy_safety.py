"""motes deploy never replaces the user's own program without a yes, and finds the one
attached board by itself (serial ports as mpremote lists them, a mounted CIRCUITPY
drive). Boards here are folders (a CIRCUITPY drive) and fake port lists: no hardware."""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pytest

from motes.board import attach
from motes.board.transport import BoardError
from motes.cli import main


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool):
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _drive(tmp_path, code: str | None = "print('my own program')\n"):
    d = tmp_path / "CIRCUITPY"
    d.mkdir()
    (d / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\n")
    if code is not None:
        (d / "code.py").write_text(code)      # what CircuitPython runs at boot
    return d


def test_users_code_py_needs_a_yes(tmp_path, monkeypatch, capsys):
    d = _drive(tmp_path)
    before = sorted(p.name for p in d.iterdir())
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=False))
    assert main(["deploy", "--example", "hello_sine", "--drive", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "code.py was not written by motes deploy" in err[-1] and "--yes" in err[-1]
    assert sorted(p.name for p in d.iterdir()) == before                   # nothing written
    assert (d / "code.py").read_text() == "print('my own program')\n"
    # asked on a terminal: "n" stops, nothing written
    monkeypatch.setattr("sys.stdin", _Stdin("n\n", tty=True))
    assert main(["deploy", "--example", "hello_sine", "--drive", str(d)]) == 2
    assert sorted(p.name for p in d.iterdir()) == before
    # --yes replaces it, and deploy notes what it wrote
    assert main(["deploy", "--example", "hello_sine", "--drive", str(d), "--yes"]) == 0
    ours = (d / "code.py").read_bytes()
    written = json.loads((d / "lib" / "motes" / "deployed.json").read_text())["files"]
    assert written["code.py"][0] == len(ours) and any(k.startswith("lib/motes/net.") for k in written)
    # its own code.py is replaced without asking; once the user edits it, it asks again
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=False))
    assert main(["deploy", "--example", "soil_moisture", "--drive", str(d)]) == 0
    assert (d / "code.py").read_bytes() != ours and (d / "sensors.py").exists()
    (d / "code.py").write_text("# edited on the board\n")
    assert main(["deploy", "--example", "hello_sine", "--drive", str(d)]) == 2
    assert (d / "code.py").read_text() == "# edited on the board\n"
    monkeypatch.setattr("sys.stdin", _Stdin("y\n", tty=True))
    assert main(["deploy", "--example", "hello_sine", "--drive", str(d)]) == 0
    assert (d / "code.py").read_bytes() == ours


def test_a_board_without_a_program_needs_no_question(tmp_path, monkeypatch):
    d = _drive(tmp_path, code=None)
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=False))
    assert main(["deploy", "--example", "hello_sine", "--drive", str(d)]) == 0
    assert (d / "code.py").exists() and (d / "hello_sine.mote").exists()


@dataclass(order=True)
class _Port:                  # what pyserial's ListPortInfo gives (it sorts by device too)
    device: str
    vid: int | None = field(compare=False)
    pid: int | None = field(compare=False)
    manufacturer: str | None = field(compare=False)
    product: str = field(compare=False, default="Board")
    description: str = field(compare=False, default="n/a")


def _ports(monkeypatch, *ports):
    fake = [_Port(dev, vid, 1 if vid else None, man) for dev, vid, man in ports]
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: list(reversed(fake)))


@pytest.fixture
def no_drives(monkeypatch, tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n")
    monkeypatch.setattr(attach, "MOUNTS", str(mounts))
    monkeypatch.setattr(attach, "_media", lambda: [])
    return mounts


def test_port_auto_finds_the_one_usb_board(monkeypatch, no_drives):
    # /dev/ttyS0 has no USB ids: mpremote skips it too
    _ports(monkeypatch, ("/dev/ttyS0", None, None), ("/dev/ttyACM0", 0x2E8A, "MicroPython"))
    assert attach.choose("auto", None)[:2] == ("/dev/ttyACM0", None)
    assert attach.choose(None, None)[:2] == ("/dev/ttyACM0", None)
    assert attach.choose("/dev/ttyUSB3", None)[:2] == ("/dev/ttyUSB3", None)
    _ports(monkeypatch, ("/dev/ttyACM0", 0x2E8A, "MicroPython"), ("/dev/ttyUSB0", 0x10C4, "Silicon Labs"))
    with pytest.raises(BoardError, match=r"2 USB serial ports found \(/dev/ttyACM0 \(MicroPython Board\), "
                                         r"/dev/ttyUSB0 \(Silicon Labs Board\)\): choose one with --port"):
        attach.choose("auto", None)
    _ports(monkeypatch)
    with pytest.raises(BoardError, match="no USB serial port found: plug the board in"):
        attach.choose(None, None)


def test_no_board_is_one_line(monkeypatch, no_drives, capsys):
    _ports(monkeypatch)
    assert main(["deploy", "--example", "hello_sine"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no USB serial port found" in err[0]


def test_drive_auto_finds_a_mounted_circuitpy(monkeypatch, tmp_path, no_drives):
    _ports(monkeypatch, ("/dev/ttyACM0", 0x239A, "Adafruit"))
    with pytest.raises(BoardError, match="no CIRCUITPY drive found"):
        attach.choose(None, "auto")
    spaced = tmp_path / "media" / "my user" / "CIRCUITPY"
    spaced.mkdir(parents=True)
    other = tmp_path / "usbstick"
    other.mkdir()
    no_drives.write_text(f"proc /proc proc rw 0 0\n/dev/sdb1 {str(spaced).replace(' ', chr(92) + '040')} vfat rw 0 0\n"
                         f"/dev/sdc1 {other} vfat rw 0 0\n")
    assert attach.choose(None, "auto")[:2] == (None, str(spaced))
    # neither --port nor --drive: a CircuitPython board shows a port and a drive; the drive wins
    assert attach.choose(None, None)[:2] == (None, str(spaced))
    # a drive found by a desktop's media folder, known by its boot_out.txt
    renamed = tmp_path / "Volumes" / "MYBOARD"
    renamed.mkdir(parents=True)
    (renamed / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1 on 2024-11-20; Pico\n")
    monkeypatch.setattr(attach, "_media", lambda: [str(tmp_path / "Volumes" / "*")])
    with pytest.raises(BoardError, match="2 CIRCUITPY drives found"):
        attach.choose(None, "auto")
