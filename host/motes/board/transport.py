"""Talk to a board: a MicroPython board over its serial raw REPL, or a mounted
CIRCUITPY drive. Both give the same small interface that `deploy` needs:
`info`, `remote_files(paths)` (size and hash of what is there), `put(dest,
data)` (a safe copy) and `remove(paths)`.

Serial boards use mpremote's transport as a library. mpremote is MicroPython's
own tool: it is maintained with the firmware, speaks the raw-paste protocol
(flow-controlled, so big files do not overrun a slow board's UART buffer) and
can join a board without resetting it. adafruit-ampy has had no release since
2021 and writes byte strings without flow control.

A safe copy: the data goes to DEST.part, the board reports its size and hash
(sha256, or CRC32 where hashlib is missing), and only then is it renamed over
DEST. If the cable is pulled during the copy, DEST is untouched: the old model
keeps working, and the next deploy removes the stray .part.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from pathlib import Path

from ..compiler.graph import ModelError

CHUNK = 1024                   # bytes written per raw-REPL command
PART, OLD = ".part", ".old"    # the copy in progress, and a file being replaced on FAT

# sys.implementation._mpy: bits 10..13 say which native code the board runs.
MPY_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")


class BoardError(ModelError):
    """The board cannot be reached, or did not do what was asked."""


def parse_mpy(value: int | None) -> dict:
    """Split sys.implementation._mpy into the .mpy version, sub-version and native arch."""
    if not value:
        return {"mpy_version": None, "mpy_sub": None, "arch": None}
    idx = (value >> 10) & 0x0F
    return {"mpy_version": value & 0xFF, "mpy_sub": (value >> 8) & 3,
            "arch": MPY_ARCHS[idx] if idx < len(MPY_ARCHS) else None}


def local_digest(data: bytes, algo: str) -> str:
    if algo == "sha256":
        return hashlib.sha256(data).hexdigest()
    if algo == "crc32":
        return "%08x" % (binascii.crc32(data) & 0xFFFFFFFF)
    raise ValueError(algo)


# Defined on the board once per connection (names start with _mt_ so that they
# do not clash with the user's), removed by close().
_HELPERS = """\
import os, sys
try:
    import hashlib
    hashlib.sha256
    _mt_algo = 'sha256'
except (ImportError, AttributeError):
    hashlib = None
    try:
        import binascii
        binascii.crc32
        _mt_algo = 'crc32'
    except (ImportError, AttributeError):
        _mt_algo = ''
try:
    from binascii import a2b_base64 as _mt_b64
except ImportError:
    _mt_b64 = None
def _mt_size(p):
    try:
        s = os.stat(p)
        return -1 if s[0] & 0x4000 else s[6]
    except OSError:
        return None
def _mt_hash(p):
    b = bytearray(256)
    if _mt_algo == 'sha256':
        h = hashlib.sha256()
    c = 0
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            if _mt_algo == 'sha256':
                h.update(b if n == 256 else b[:n])
            else:
                c = binascii.crc32(b if n == 256 else b[:n], c)
    if _mt_algo == 'sha256':
        return ''.join('%02x' % x for x in h.digest())
    return '%08x' % (c & 0xffffffff)
def _mt_files(ps):
    r = []
    for p in ps:
        s = _mt_size(p)
        r.append((s, _mt_hash(p) if s is not None and s >= 0 and _mt_algo else None))
    print(repr(r))
def _mt_read(p):
    with open(p, 'rb') as f:
        return f.read()
def _mt_mkdirs(p):
    parts = p.split('/')[:-1]
    for i in range(1, len(parts) + 1):
        q = '/'.join(parts[:i])
        if q and _mt_size(q) is None:
            os.mkdir(q)
def _mt_commit(tmp, dest):
    try:
        os.rename(tmp, dest)
    except OSError:
        # FAT cannot rename over a file: move the old one aside first
        if _mt_size(dest + '.old') is not None:
            os.remove(dest + '.old')
        os.rename(dest, dest + '.old')
        os.rename(tmp, dest)
        os.remove(dest + '.old')
def _mt_recover(dest):
    # a cut between the two renames of _mt_commit: put the old file back
    if _mt_size(dest) is None and _mt_size(dest + '.old') is not None:
        os.rename(dest + '.old', dest)
    if _mt_size(dest + '.part') is not None:
        os.remove(dest + '.part')
"""


class SerialBoard:
    """A MicroPython (or CircuitPython) board on a serial port, through its raw REPL."""

    def __init__(self, port: str, baudrate: int = 115200, soft_reset: bool = True):
        try:
            from mpremote.transport_serial import SerialTransport
            from mpremote.transport import TransportError
        except ImportError as e:
            raise BoardError("mpremote is not installed: pip install mpremote (or make setup)") from e
        self._TransportError = TransportError
        self.port = port
        try:
            self.t = SerialTransport(port, baudrate=baudrate)
        except TransportError as e:
            raise BoardError(f"cannot open {port}: {e}. Is the board plugged in, and is no other "
                             "program (a serial terminal, Thonny, mpremote) using the port?") from None
        try:
            self.t.enter_raw_repl(soft_reset=soft_reset)
            self.t.exec(_HELPERS)
            self.info = self._info()
        except Exception:
            self._close_quietly()
            raise

    def _call(self, code: str, timeout: float = 30, consumer=None) -> bytes:
        try:
            out, err = self.t.exec_raw(code, timeout=timeout, data_consumer=consumer)
        except (self._TransportError, OSError) as e:
            if "timeout" in str(e):
                raise BoardError(f"the board on {self.port} did not answer for {timeout} s ({e}); "
                                 "press its reset button and try again") from None
            raise BoardError(f"lost the connection to the board on {self.port} ({e}). "
                             "Files on the board are as they were before the interrupted copy; "
                             "reconnect and deploy again.") from None
        if err:
            raise BoardError(f"the board raised an error:\n{err.decode(errors='replace').strip()}")
        return out

    def _eval(self, expr: str):
        import ast
        return ast.literal_eval(self._call(f"print(repr({expr}))").decode().strip())

    def _info(self) -> dict:
        impl, version, mpy, platform, path = self._eval(
            "(sys.implementation.name, '.'.join(str(v) for v in sys.implementation.version[:3]), "
            "getattr(sys.implementation, '_mpy', 0), sys.platform, sys.path)")
        lib = next((p for p in path if p.endswith("/lib") and not p.startswith("/rom")), "lib")
        info = {"implementation": impl, "version": version, "platform": platform, "lib": lib,
                "hash": self._eval("_mt_algo") or None, "base64": self._eval("_mt_b64 is not None")}
        info.update(parse_mpy(mpy))
        return info

    def describe(self) -> str:
        i = self.info
        arch = i["arch"] or "no native code"
        mpy = f"mpy {i['mpy_version']}.{i['mpy_sub']}" if i["mpy_version"] else "no .mpy"
        return f"{i['implementation']} {i['version']} on {i['platform']} ({arch}, {mpy}) at {self.port}"

    def remote_files(self, paths: list[str]) -> list[tuple[int | None, str | None]]:
        """(size, hash) of each path on the board; size None when it is missing."""
        if not paths:
            return []
        import ast
        out = self._call(f"_mt_files({paths!r})", timeout=120)
        return [tuple(x) for x in ast.literal_eval(out.decode().strip())]

    def listdir(self, folder: str) -> list[str]:
        return self._eval(f"[n for n in os.listdir({folder!r})] if _mt_size({folder!r}) == -1 else []")

    def read(self, path: str) -> bytes | None:
        """A small file's bytes, or None when the board has no such file."""
        return self._eval(f"_mt_read({path!r}) if _mt_size({path!r}) is not None else None")

    def recover(self, dest: str) -> None:
        self._call(f"_mt_recover({dest!r})")

    def put(self, dest: str, data: bytes, progress=None) -> None:
        """Copy data to dest safely: write dest.part, verify size and hash, rename."""
        tmp = dest + PART
        self._call(f"_mt_mkdirs({dest!r})\n_mt_f = open({tmp!r}, 'wb')")
        b64 = self.info["base64"]
        for i in range(0, len(data), CHUNK):
            chunk = data[i:i + CHUNK]
            if b64:
                self._call(f"_mt_f.write(_mt_b64({base64.b64encode(chunk).decode()!r}))")
            else:
                self._call(f"_mt_f.write({chunk!r})")
            if progress:
                progress(min(i + CHUNK, len(data)), len(data))
        if progress and not data:
            progress(0, 0)
        self._call("_mt_f.close()\ndel _mt_f")
        self._verify(tmp, data)
        self._call(f"_mt_commit({tmp!r}, {dest!r})")

    def _verify(self, path: str, data: bytes) -> None:
        (size, digest), = self.remote_files([path])
        algo = self.info["hash"]
        if size != len(data):
            raise BoardError(f"{path}: the board has {size} bytes, expected {len(data)}: the copy "
                             "failed (flash full?); the old file is untouched")
        if algo and digest != local_digest(data, algo):
            raise BoardError(f"{path}: {algo} differs after the copy: the data was corrupted on "
                             "the way; the old file is untouched, deploy again")
        if not algo:   # no hash on the board: read the file back
            back = self.t.fs_readfile(path)
            if back != data:
                raise BoardError(f"{path}: read-back differs after the copy; the old file is untouched")

    def remove(self, paths: list[str]) -> None:
        for p in paths:
            self._call(f"os.remove({p!r})")

    def run(self, code: str, timeout: float | None = None, echo=None) -> str:
        """Execute code on the board; its output is passed to echo as it comes, and returned.
        A program that runs for ever (a sensor loop) runs until Ctrl-C, which stops it on the board."""
        chunks = []

        def consume(b: bytes) -> None:
            chunks.append(b)
            if echo:
                echo(b.decode(errors="replace").replace("\r", "").replace("\x04", ""))
        try:
            self._call(code, timeout=timeout, consumer=consume)
        except KeyboardInterrupt:
            self.t.serial.write(b"\x03")              # stop it on the board too
            try:
                self.t.follow(2)
            except Exception:
                pass
            raise BoardError("interrupted (Ctrl-C): stopped the program on the board") from None
        return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n").replace("\x04", "")

    def _close_quietly(self) -> None:
        try:
            self.t.close()
        except Exception:   # the port may already be gone
            pass

    def close(self) -> None:
        try:
            if self.t.in_raw_repl:
                self.t.exec_raw("for _n in [n for n in globals() if n.startswith('_mt_')]: "
                                "del globals()[_n]", timeout=5)
                self.t.exit_raw_repl()
        except Exception:
            pass
        self._close_quietly()


class DriveBoard:
    """A board that shows up as a USB drive (CircuitPython's CIRCUITPY)."""

    def __init__(self, path: str | Path):
        self.root = Path(path)
        if not self.root.is_dir():
            raise BoardError(f"{path} is not a folder: give the mount point of the board's drive "
                             "(e.g. /media/$USER/CIRCUITPY)")
        boot = self.root / "boot_out.txt"
        text = boot.read_text(errors="replace").splitlines()[0] if boot.exists() else ""
        impl = "circuitpython" if "CircuitPython" in text or not text else "micropython"
        self.info = {"implementation": impl, "version": text.split(" on ")[0].split()[-1] if text else "?",
                     "platform": text.split(" on ")[-1] if " on " in text else "?", "lib": "lib",
                     "hash": "sha256", "base64": True, "mpy_version": None, "mpy_sub": None, "arch": None}
        self.port = str(self.root)

    def describe(self) -> str:
        what = f"{self.info['implementation']} {self.info['version']}".strip()
        return f"{what} drive at {self.root}"

    def _p(self, dest: str) -> Path:
        return self.root / dest.lstrip("/")

    def remote_files(self, paths):
        out = []
        for p in paths:
            f = self._p(p)
            out.append((f.stat().st_size, local_digest(f.read_bytes(), "sha256")) if f.is_file()
                       else ((-1, None) if f.exists() else (None, None)))
        return out

    def listdir(self, folder: str) -> list[str]:
        f = self._p(folder)
        return sorted(x.name for x in f.iterdir()) if f.is_dir() else []

    def read(self, path: str) -> bytes | None:
        f = self._p(path)
        return f.read_bytes() if f.is_file() else None

    def recover(self, dest: str) -> None:
        f, old, tmp = self._p(dest), self._p(dest + OLD), self._p(dest + PART)
        if not f.exists() and old.exists():
            old.rename(f)
        if tmp.exists():
            tmp.unlink()

    def put(self, dest: str, data: bytes, progress=None) -> None:
        f, tmp = self._p(dest), self._p(dest + PART)
        f.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:
            for i in range(0, max(len(data), 1), 64 * 1024):
                out.write(data[i:i + 64 * 1024])
                if progress:
                    progress(min(i + 64 * 1024, len(data)), len(data))
            out.flush()
            os.fsync(out.fileno())
        if tmp.read_bytes() != data:
            raise BoardError(f"{tmp}: read-back differs after the copy; the old file is untouched")
        os.replace(tmp, f)
        try:                     # make the rename reach the flash before the user unplugs
            fd = os.open(f.parent, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        except OSError:
            pass

    def remove(self, paths) -> None:
        for p in paths:
            self._p(p).unlink()

    def run(self, code, timeout=600, echo=None):
        raise BoardError("a drive cannot run code: the board restarts code.py/main.py itself "
                         "when files change; open its serial console to see the output")

    def close(self) -> None:
        pass


def wait_for_port(path: str, timeout: float = 10) -> None:
    t0 = time.monotonic()
    while not os.path.exists(path):
        if time.monotonic() - t0 > timeout:
            raise BoardError(f"{path} did not appear within {timeout:.0f} s")
        time.sleep(0.05)
