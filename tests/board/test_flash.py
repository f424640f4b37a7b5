"""motes flash: firmware images are checked before anything is erased or copied;
RP2040 flashing is a copy onto the UF2 bootloader drive (a folder here)."""
from __future__ import annotations

import struct
import pytest

from conftest import missing_tool
from motes.board.transport import BoardError
from motes.cli import main as motes_main
from motes.board.flash import check_uf2, flash

RP2040 = 0xE48BFF56


def uf2(n_blocks: int = 3, family: int = RP2040, bad_block: int | None = None) -> bytes:
    out = bytearray()
    for i in range(n_blocks):
        blk = bytearray(512)
        struct.pack_into("<8I", blk, 0, 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * i, 256,
                         i if i != bad_block else i + 7, n_blocks, family)
        blk[32:32 + 256] = bytes((i + j) & 0xFF for j in range(256))
        struct.pack_into("<I", blk, 508, 0x0AB16F30)
        out += blk
    return bytes(out)


def test_uf2_checks():
    assert check_uf2(uf2(5), "rp2040") == 5
    with pytest.raises(BoardError, match="512-byte"):
        check_uf2(uf2(2)[:-1], "rp2040")
    with pytest.raises(BoardError, match="magic"):
        check_uf2(b"\0" * 1024, "rp2040")
    with pytest.raises(BoardError, match="block 1 says"):
        check_uf2(uf2(3, bad_block=1), "rp2040")
    with pytest.raises(BoardError, match="not rp2040"):
        check_uf2(uf2(2, family=0xBFDD4EEE), "rp2040")           # an ESP32-S2 UF2


def test_rp2040_copy_to_bootloader_drive(tmp_path):
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    fw = tmp_path / "RPI_PICO-20250415-v1.25.0.uf2"
    fw.write_bytes(uf2(4))
    lines = []
    assert flash("rp2040", fw, drive=str(drive), yes=True, say=lines.append) == 0
    assert (drive / fw.name).read_bytes() == fw.read_bytes()
    assert any("BOOTSEL" in ln for ln in lines)              # the steps are printed first
    # a wrong image never reaches the drive
    bad = tmp_path / "esp32s2.uf2"
    bad.write_bytes(uf2(2, family=0xBFDD4EEE))
    with pytest.raises(BoardError):
        flash("rp2040", bad, drive=str(drive), yes=True, say=lines.append)
    assert not (drive / bad.name).exists()
    # no drive mounted: say what to do
    with pytest.raises(BoardError, match="BOOTSEL|--drive"):
        flash("rp2040", fw, drive=str(tmp_path / "nothing"), yes=True, say=lines.append)


def test_esp32_steps_and_image_check(tmp_path, capsys):
    fw = tmp_path / "ESP32_GENERIC-v1.25.0.bin"
    fw.write_bytes(b"\xe9" + bytes(4095))
    assert motes_main(["flash", "--chip", "esp32", str(fw), "--port", "/dev/ttyUSB0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "write-flash --erase-all -z 0x1000" in out and "/dev/ttyUSB0" in out
    assert "erase-flash" not in out                       # one esptool run: one connection
    s3 = tmp_path / "ESP32_GENERIC_S3.bin"
    s3.write_bytes(b"\xe9" + bytes(11) + b"\x09" + bytes(4083))     # chip id 9: ESP32-S3
    assert motes_main(["flash", "--chip", "esp32s3", str(s3), "--port", "/dev/ttyUSB0", "--dry-run"]) == 0
    assert "write-flash --erase-all -z 0x0 " in capsys.readouterr().out
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"hello" * 1000)
    assert motes_main(["flash", "--chip", "esp32", str(bad), "--port", "/dev/ttyUSB0", "--yes"]) == 2
    assert "not an ESP firmware image" in capsys.readouterr().err
    assert motes_main(["flash", "--chip", "esp32", str(fw), "--yes"]) == 2
    assert "--port" in capsys.readouterr().err


def _esp_image(chip_id: int) -> bytes:
    img = bytearray(b"\xe9" + bytes(4095))
    img[12:14] = chip_id.to_bytes(2, "little")
    return bytes(img)


def test_the_image_must_be_for_the_chip(tmp_path, capsys):
    fw = tmp_path / "ESP32_GENERIC.bin"
    fw.write_bytes(_esp_image(0))          # an ESP32 image
    assert motes_main(["flash", "--chip", "esp32s3", str(fw), "--port", "/dev/ttyUSB0", "--dry-run"]) == 2
    assert "this image is for esp32, not esp32s3" in capsys.readouterr().err
    fw.write_bytes(_esp_image(9))
    assert motes_main(["flash", "--chip", "esp32s3", str(fw), "--port", "/dev/ttyUSB0", "--dry-run"]) == 0


def test_no_terminal_and_no_yes_changes_nothing(tmp_path, monkeypatch, capsys):
    import io
    import subprocess
    fw = tmp_path / "ESP32_GENERIC.bin"
    fw.write_bytes(_esp_image(0))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert motes_main(["flash", "--chip", "esp32", str(fw), "--port", "/dev/ttyUSB9"]) == 2
    assert "no terminal to ask" in capsys.readouterr().err and calls == []
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader")
    uf = tmp_path / "fw.uf2"
    uf.write_bytes(uf2())
    assert motes_main(["flash", "--chip", "rp2040", str(uf), "--drive", str(drive)]) == 2
    assert not (drive / "fw.uf2").exists()


def test_esp32_without_board_fails_clearly(tmp_path, capsys):
    import importlib.util
    missing_tool(None if importlib.util.find_spec("esptool") else "esptool is not installed")
    fw = tmp_path / "ESP32_GENERIC.bin"
    fw.write_bytes(b"\xe9" + bytes(4095))
    code = motes_main(["flash", "--chip", "esp32", str(fw), "--port", str(tmp_path / "ttyUSB9"), "--yes"])
    assert code == 2
    assert "esptool failed" in capsys.readouterr().err
