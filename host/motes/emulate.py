"""An emulated board: the real MicroPython unix port behind a pseudo-terminal.

socat gives micropython a terminal of its own and links a second one, the
board's "serial port", to a path. Tools that talk to a board over serial
(motes deploy, mpremote, a terminal) then talk to it unchanged: the unix port
speaks the same raw REPL and raw-paste protocol as a board's firmware. A
folder plays the board's flash: a start-up script (_SANDBOX) mounts it as the
board's whole filesystem, so "/" is that folder and nothing outside it can be
named; /lib is on sys.path, as on a board. The heap is limited with
-X heapsize like a board's RAM.

The unix port has no soft reset: tools must join it without one (mpremote's
`resume`; `motes deploy` does this by itself when the port is an emulated board).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import mpy_engine
from .board import BoardError, wait_for_port

DEFAULT_FOLDER = ".motes-board"
ENV_PORT = "MOTES_PORT"          # set for commands run inside `motes emulate -- ...`
ENV_EMULATED = "MOTES_EMULATED"


# Run by the board at start (micropython -i): its filesystem is the flash
# folder and nothing else, as on a board. Every path, however spelt ("..",
# relative, absolute), is normalised and taken inside the folder, so neither a
# board script nor mpremote (fs cp, mip install --target /) can read or write
# the PC's files; /lib is on sys.path as on a board.
_SANDBOX = """\
import vfs, os, sys


class _Flash:
    def __init__(self, root):
        self.v = vfs.VfsPosix(root)
        self.host = vfs.VfsPosix()      # rename: VfsPosix(root) maps only one of its two paths
        self.root = root
        self.cwd = "/"

    def _p(self, path):
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        out = []
        for part in path.split("/"):
            if part == "..":
                if out:
                    out.pop()
            elif part and part != ".":
                out.append(part)
        return "/" + "/".join(out)

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        return self.v.open(self._p(path), mode)

    def ilistdir(self, path):
        return self.v.ilistdir(self._p(path))

    def stat(self, path):
        return self.v.stat(self._p(path))

    def statvfs(self, path):
        return self.v.statvfs(self._p(path))

    def mkdir(self, path):
        return self.v.mkdir(self._p(path))

    def rmdir(self, path):
        return self.v.rmdir(self._p(path))

    def remove(self, path):
        return self.v.remove(self._p(path))

    def rename(self, a, b):
        return self.host.rename(self.root + self._p(a), self.root + self._p(b))

    def chdir(self, path):
        p = self._p(path)
        if not self.v.stat(p)[0] & 0x4000:
            raise OSError(20)
        self.cwd = p

    def getcwd(self):
        return self.cwd


vfs.umount("/")
vfs.mount(_Flash(%(root)r), "/")
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]
del _Flash, vfs, os, sys
"""


class EmulatedBoard:
    def __init__(self, folder: str | Path = DEFAULT_FOLDER, heap: str = "256K", port: str | Path | None = None):
        self.folder = Path(folder).resolve()
        self.flash = self.folder / "flash"
        self.port = str(Path(port).resolve() if port else self.folder / "port")
        self.heap = mpy_engine.parse_heap(heap) or "256K"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "EmulatedBoard":
        socat = shutil.which("socat")
        if socat is None:
            raise BoardError("socat is not installed: sudo apt-get install socat (make setup does it)")
        mp = mpy_engine.micropython_path()
        bad = set(" ,:!\"'") & set(mp)
        if bad:
            raise BoardError(f"the path of micropython ({mp}) contains {''.join(sorted(bad))!r}, which socat "
                             "cannot pass on: install the project in a folder without them")
        (self.flash / "lib").mkdir(parents=True, exist_ok=True)
        if os.path.lexists(self.port):
            os.unlink(self.port)
        boot = self.folder / "sandbox.py"
        boot.write_text(_SANDBOX % {"root": str(self.flash)})
        bad = set(" ,:!\"'") & set(str(boot))
        if bad:
            raise BoardError(f"the board's folder ({self.folder}) contains {''.join(sorted(bad))!r}, which "
                             "socat cannot pass on: choose a --folder without them")
        env = dict(os.environ, MICROPYPATH=".frozen")
        cmd = [socat, f"pty,raw,echo=0,link={self.port}",
               f"EXEC:{mp} -X heapsize={self.heap} -i {boot},pty,raw,echo=0,stderr,setsid,ctty"]
        self.proc = subprocess.Popen(cmd, cwd=self.flash, env=env, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            wait_for_port(self.port)
        except BoardError:
            self.stop()
            raise
        time.sleep(0.2)           # let micropython print its banner before anyone writes
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Pull the cable: the board and its port vanish at once (no clean shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill()
        self.proc = None
        if os.path.lexists(self.port):
            os.unlink(self.port)

    def env(self) -> dict:
        return dict(os.environ, **{ENV_PORT: self.port, ENV_EMULATED: "1"})

    def __enter__(self) -> "EmulatedBoard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def resolve_port(port: str) -> tuple[str, bool]:
    """`@` is the emulated board of the enclosing `motes emulate`; returns (port, emulated)."""
    if port == "@":
        p = os.environ.get(ENV_PORT)
        if not p:
            raise BoardError("--port @ means the emulated board, but none is running: "
                             "run the command inside `motes emulate -- ...`, or give the board's port")
        return p, True
    emulated = os.environ.get(ENV_EMULATED) == "1" and os.path.realpath(port) == os.path.realpath(
        os.environ.get(ENV_PORT, ""))
    return port, emulated
