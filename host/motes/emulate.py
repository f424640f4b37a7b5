"""An emulated board: the real MicroPython unix port behind a pseudo-terminal.

socat gives micropython a terminal of its own and links a second one, the
board's "serial port", to a path. Tools that talk to a board over serial
(motes deploy, mpremote, a terminal) then talk to it unchanged: the unix port
speaks the same raw REPL and raw-paste protocol as a board's firmware. Its
working folder plays the board's flash; <flash>/lib is on sys.path, as /lib
is on a board. The heap is limited with -X heapsize like a board's RAM.

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
        env = dict(os.environ, MICROPYPATH=f":.frozen:{self.flash}/lib")
        cmd = [socat, f"pty,raw,echo=0,link={self.port}",
               f"EXEC:{mp} -X heapsize={self.heap},pty,raw,echo=0,stderr,setsid,ctty"]
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
