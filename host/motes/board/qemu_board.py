"""Emulated 32-bit boards: real MicroPython firmware under QEMU.

The unix port is 64-bit and keeps native code outside its GC heap, so its RAM
figures are not a board's. These boards are MicroPython's own `qemu` port
built for a Cortex-M3, a Cortex-M0 (RP2040's core), the same M0 without a
native emitter (like CircuitPython) and RISC-V 32 (ESP32-C3's ISA): the same
VM, garbage collector and `.mpy` loader as a board's firmware. The firmware
and its start script live in the shared boards folder (`../shared/boards`
beside a checkout, or `$MOTES_BOARDS`); QEMU comes from Debian.

How files reach the board without costing it heap: on the boards with a ROMFS
partition (m3, rv32) the runtime, the model and the inputs go into one ROMFS
image, mounted at /rom, and `.mpy` files run in place from it. The M0 boards
have no ROMFS partition: a host folder is served over the serial link with
mpremote's `mount` (about 5 KB of heap, and every read allocates).

Time: with the instruction clock (`icount`), one microsecond of the board's
`time.ticks_us()` is 1,000 guest instructions: a deterministic stand-in for
cycles. An idle QEMU spins a core, so a board runs only inside `with`.

    with QemuBoard("m3", heap=64 * 1024, rom={"x.mote": data}) as b:
        print(b.exec("import gc; print(gc.mem_free())"))
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import resources
from ..compiler.graph import ModelError

ROOT = resources.CHECKOUT or resources.DATA          # USER_C_MODULES: its ulab_kernels/micropython.mk
SHARED_BOARDS = resources.SHARED / "boards" if resources.SHARED else None
ENV_DIR = "MOTES_BOARDS"


@dataclass(frozen=True)
class BoardKind:
    name: str
    cpu: str
    arch: str            # natmod and viper architecture of the runtime it gets
    qemu: str            # QEMU binary, and the Debian package that has it
    package: str
    romfs: bool          # a ROMFS partition (else files come over `mpremote mount`)
    heap_at_boot: bool   # the heap size can be chosen at boot
    native: bool         # a native emitter: viper and natmods load


BOARDS = {
    "m3": BoardKind("m3", "Cortex-M3 (mps2-an385)", "armv7m", "qemu-system-arm", "qemu-system-arm",
                    romfs=True, heap_at_boot=True, native=True),
    "m0": BoardKind("m0", "Cortex-M0 (nRF51, like RP2040's core)", "armv6m", "qemu-system-arm",
                    "qemu-system-arm", romfs=False, heap_at_boot=False, native=True),
    "m0-no-native": BoardKind("m0-no-native", "Cortex-M0 without a native emitter (like CircuitPython)",
                              "armv6m", "qemu-system-arm", "qemu-system-arm",
                              romfs=False, heap_at_boot=False, native=False),
    "rv32": BoardKind("rv32", "RISC-V 32 (virt, rv32imc like ESP32-C3)", "rv32imc", "qemu-system-riscv32",
                      "qemu-system-misc", romfs=True, heap_at_boot=False, native=True),
}
HEAP_MIN, HEAP_MAX = 8192, 196607       # run_board.sh's range for HEAP=


def kind(name: str) -> BoardKind:
    try:
        return BOARDS[name]
    except KeyError:
        raise ModelError(f"unknown board {name!r}: use one of {', '.join(BOARDS)}") from None


def firmware_dir() -> Path | None:
    """The folder with the board firmware and run_board.sh, or None."""
    env = os.environ.get(ENV_DIR)
    for d in ([Path(env)] if env else []) + ([SHARED_BOARDS] if SHARED_BOARDS else []):
        if (d / "run_board.sh").exists():
            return d
    return None


def missing(name: str) -> str | None:
    """Why board `name` cannot start here (one line), or None when it can."""
    k = kind(name)
    if firmware_dir() is None:
        return (f"the emulated boards' firmware is missing: put the shared boards folder at "
                f"{SHARED_BOARDS or '../shared/boards beside a checkout'} or set ${ENV_DIR}")
    if shutil.which(k.qemu) is None:
        return f"{k.qemu} is not installed: sudo apt-get install {k.package} (make setup does it)"
    return None


def heap_bytes(text: str | int | None) -> int | None:
    if text is None or isinstance(text, int):
        return text
    t = text.strip().upper()
    scale = {"K": 1024, "M": 1024 * 1024}.get(t[-1:], 1)
    digits = t[:-1] if scale > 1 else t
    if not digits.isdigit():
        raise ModelError(f"heap size {text!r}: use bytes or a K/M suffix, e.g. 64K")
    return int(digits) * scale


class QemuBoard:
    """One emulated board, started on enter and stopped on exit.

    rom: {path: bytes} for the ROMFS image (boards with a partition);
    mount: a host folder served at /remote (and made the working folder)."""

    def __init__(self, name: str, heap: int | str | None = None, rom: dict[str, bytes] | None = None,
                 mount: str | Path | None = None, icount: bool = True, connect: bool = True):
        self.kind = kind(name)
        self.heap = heap_bytes(heap)
        if self.heap is not None:
            if not self.kind.heap_at_boot:
                raise ModelError(f"--heap: the {name} board's heap is fixed (192K); the heap is chosen "
                                 "at boot on the m3 board only")
            if not HEAP_MIN <= self.heap <= HEAP_MAX:
                raise ModelError(f"--heap {self.heap}: the m3 board takes {HEAP_MIN} to {HEAP_MAX} bytes")
        if rom and not self.kind.romfs:
            raise ModelError(f"the {name} board has no ROMFS partition")
        self.rom, self.mount_dir, self.icount, self.connect = rom, mount, icount, connect
        self.pty: str | None = None     # the board's serial port
        self.proc: subprocess.Popen | None = None
        self.t = None
        self._tmp = None

    def __enter__(self) -> "QemuBoard":
        why = missing(self.kind.name)
        if why:
            raise ModelError(why)
        env = dict(os.environ, BOARD=self.kind.name)
        env.pop("ROMFS", None)
        env.pop("HEAP", None)
        env.pop("ICOUNT", None)
        if self.icount:
            env["ICOUNT"] = "1"
        if self.heap is not None:
            env["HEAP"] = str(self.heap)
        if self.rom:
            from .romfs import build_image
            self._tmp = tempfile.TemporaryDirectory(prefix="motes-board-")
            image = Path(self._tmp.name) / "rom.img"
            image.write_bytes(build_image(self.rom))
            env["ROMFS"] = str(image)
        self.proc = subprocess.Popen(["sh", str(firmware_dir() / "run_board.sh"), "pty"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            line = self.proc.stdout.readline().decode(errors="replace")
            m = re.search(r"(/dev/pts/\d+)", line)
            if not m:
                rest = self.proc.stdout.read().decode(errors="replace") if self.proc.poll() is not None else ""
                raise ModelError(f"the {self.kind.name} board did not start: {(line + rest).strip()}")
            self.pty = m.group(1)
            if self.connect:
                from mpremote.transport_serial import SerialTransport
                self.t = SerialTransport(self.pty, baudrate=115200)
                self.t.enter_raw_repl(soft_reset=False)
                if self.mount_dir is not None:
                    self.t.mount_local(str(self.mount_dir))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def exec(self, code: str, timeout: float = 600) -> tuple[str, str]:
        """Run code on the board: (what it printed, the error it raised or '')."""
        from mpremote.transport import TransportError
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except TransportError as e:
            raise ModelError(f"the {self.kind.name} board did not finish within {timeout:.0f} s ({e})") from None
        return (out.decode(errors="replace").replace("\r\n", "\n"),
                err.decode(errors="replace").replace("\r\n", "\n"))

    def stop(self) -> None:
        if self.t is not None:
            try:
                if self.mount_dir is not None:
                    self.t.umount_local()
                self.t.close()
            except Exception:   # the board may already be gone
                pass
            self.t = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# The m3 firmware as ../shared/boards/README.md builds it, with the C kernels
# (ulab_kernels/micropython.mk) as a user C module: motes_native is then part
# of the firmware, its code in flash, none of it in the heap.
_M3_BUILD = ["BOARD=MPS2_AN385", "FROZEN_MANIFEST=", "MICROPY_HEAP_SIZE=196608",
             "CFLAGS_EXTRA=-DMICROPY_HEAP_SIZE_ADDR=0x21fffff0"]


def build_firmware_with_kernels(out: Path, tree: Path) -> Path:
    """Build the m3 board's firmware from the MicroPython source `tree` with
    motes_native built in; returns a boards folder (run_board.sh beside the
    .elf) for $MOTES_BOARDS. The tree is only read: objects go to `out`."""
    base = firmware_dir()
    if base is None:
        raise ModelError("the emulated boards' folder (run_board.sh) is missing")
    if shutil.which("arm-none-eabi-gcc") is None:
        raise ModelError("arm-none-eabi-gcc is not installed: sudo apt-get install gcc-arm-none-eabi "
                         "libnewlib-arm-none-eabi (make setup does it)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["make", "-s", "-C", str(tree / "ports" / "qemu"), f"BUILD={out / 'build-m3'}",
                           f"USER_C_MODULES={ROOT}"] + _M3_BUILD, capture_output=True, text=True)
    elf = out / "build-m3" / "firmware.elf"
    if proc.returncode != 0 or not elf.exists():
        raise ModelError("building the m3 firmware with the kernels failed:\n"
                         + (proc.stdout + proc.stderr).strip()[-2000:])
    shutil.copyfile(base / "run_board.sh", out / "run_board.sh")
    shutil.copyfile(elf, out / "mps2-an385-cortex-m3.elf")
    return out


def runtime_files(name: str, native: bool = True, arch: str | None = None) -> dict[str, bytes]:
    """The runtime as a board of this kind gets it (or compiled for `arch`), laid out as for /rom/lib."""
    from . import romfs
    return romfs.runtime_files(arch or kind(name).arch, native=native)
