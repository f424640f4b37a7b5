"""An emulated board: the real MicroPython unix port behind a pseudo-terminal.

MicroPython runs on a terminal of its own (raw, no echo, its controlling
terminal, as on a board's UART), and a second pseudo-terminal, linked to a
path, is the board's "serial port". A thread relays bytes between the two and
ends the board's lines as a board does: its firmware writes CR LF, the unix
port writes bare LF where it leaves that to a terminal, so a bare LF going out
becomes CR LF (`mpremote repl` does not staircase), and the CR LF it writes
itself is left as it is. Tools that talk to a board over serial (motes deploy,
mpremote, a terminal) then talk to it unchanged: the unix port speaks the same
raw REPL and raw-paste protocol as a board's firmware. A folder plays the
board's flash: a start-up script (_SANDBOX) mounts it as the board's whole
filesystem, so "/" is that folder and nothing outside it can be named; /lib is
on sys.path, as on a board. The heap is limited with -X heapsize like a
board's RAM.

The unix port has no soft reset: tools must join it without one (mpremote's
`resume`; `motes deploy` does this by itself when the port is an emulated board).
"""
from __future__ import annotations

import errno
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import threading
import tty
from pathlib import Path

from ..run import mpy_engine
from .transport import BoardError

DEFAULT_FOLDER = ".motes-board"
START_TIMEOUT = 20                 # seconds for the board's first prompt
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
        mp = mpy_engine.micropython_path()
        (self.flash / "lib").mkdir(parents=True, exist_ok=True)
        if os.path.lexists(self.port):
            os.unlink(self.port)
        boot = self.folder / "sandbox.py"
        boot.write_text(_SANDBOX % {"root": str(self.flash)})
        board, board_tty = pty.openpty()          # the board's own terminal
        _board_terminal(board_tty)
        # a session of its own, that terminal its controlling terminal (Ctrl-C) through a
        # small exec shim: preexec_fn is unsafe beside the relay threads
        self.proc = subprocess.Popen([sys.executable, "-c", _CTTY, mp, "-X", f"heapsize={self.heap}", "-i",
                                      str(boot)], cwd=self.flash, env=dict(os.environ, MICROPYPATH=".frozen"),
                                     stdin=board_tty, stdout=board_tty, stderr=board_tty)
        os.close(board_tty)
        self._line = _SerialLine(board, self.port, self.proc.pid)
        # the port appears once the board's start-up script (the sandbox) has run and its
        # REPL waits: nothing a tool writes (a Ctrl-C) can cut the start-up short
        if not self._line.ready.wait(START_TIMEOUT):
            said = self._line.early.decode(errors="replace").strip()[-300:]
            self.stop()
            raise BoardError(f"the emulated board did not start within {START_TIMEOUT} s"
                             + (f"; it said: {said}" if said else ""))
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Pull the cable: the board and its port vanish at once (no clean shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._close_line()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.kill()
        self.proc = None
        self._close_line()

    def _close_line(self) -> None:
        line, self._line = getattr(self, "_line", None), None
        if line is not None:
            line.close()

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


# Linux shows a process's caught signals in /proc: the serial line then raises SIGINT
# itself, only when it is safe (_SerialLine). Elsewhere (macOS) the terminal does.
_PROC = os.path.exists(f"/proc/{os.getpid()}/status")


def _board_terminal(fd: int) -> None:
    """Raw and silent, like a UART: Ctrl-C is a plain byte that the serial line turns
    into SIGINT while the board runs code (_SerialLine). Without /proc the terminal
    makes the signal (ISIG), as it did before. Ctrl-Z and Ctrl-\\ stay plain bytes."""
    tty.setraw(fd)
    if not _PROC:
        attrs = termios.tcgetattr(fd)
        attrs[3] |= termios.ISIG
        attrs[6][termios.VQUIT] = attrs[6][termios.VSUSP] = b"\0"
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


_CTTY = ("import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
         "os.execv(sys.argv[1], sys.argv[1:])")


class _SerialLine:
    """The board's serial port: a pseudo-terminal linked at `link` once the board
    shows its first prompt, joined to the board's terminal by a thread; bare LF
    from the board goes out as CR LF.

    Ctrl-C interrupts a running program as on a board. The unix port raises
    KeyboardInterrupt from a SIGINT handler that it sets only while it runs code;
    between two runs SIGINT has its default action, which kills the process. A
    terminal that made the signal itself (ISIG) killed the board when a tool's
    Ctrl-C came just after a run. So the line sends SIGINT only while the handler
    is set (the process's caught-signal mask), and otherwise passes Ctrl-C on as a
    byte, which the waiting REPL reads as Ctrl-C."""

    def __init__(self, board_fd: int, link: str, pid: int):
        self.board = board_fd
        self.pid = pid
        self.port, self.port_tty = pty.openpty()
        tty.setraw(self.port_tty)             # kept open: the port survives tools closing it
        self.link = link
        self.ready = threading.Event()
        self.early = b""                      # what the board said before its first prompt
        self.wake_r, self.wake_w = os.pipe()
        self.thread = threading.Thread(target=self._run, name="emulated-board-serial", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        last = b""
        try:
            while True:
                ready, _, _ = select.select([self.board, self.port, self.wake_r], [], [])
                if self.wake_r in ready:
                    return
                if self.port in ready:
                    self._to_board(os.read(self.port, 4096))
                if self.board in ready:
                    data = os.read(self.board, 4096)
                    if not data:
                        return
                    out = data.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
                    if last == b"\r" and data[:1] == b"\n":    # a CR LF split between two reads
                        out = out[1:]
                    last = data[-1:]
                    _write_all(self.port, out)
                    if not self.ready.is_set():
                        self.early = (self.early + out)[-4096:]
                        if self.early.endswith(b">>> "):
                            os.symlink(os.ttyname(self.port_tty), self.link)
                            self.ready.set()
        except OSError as e:          # EIO: the board is gone (its terminal closed)
            if e.errno not in (errno.EIO, errno.EBADF):
                raise

    def _to_board(self, data: bytes) -> None:
        if not _PROC:
            _write_all(self.board, data)
            return
        first, *rest = data.split(b"\x03")
        _write_all(self.board, first)
        for part in rest:
            if self._handles_sigint():
                try:
                    os.kill(self.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            else:
                _write_all(self.board, b"\x03")
            _write_all(self.board, part)

    def _handles_sigint(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                caught = next(line for line in f if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return False
        return bool(int(caught.split()[1], 16) >> (signal.SIGINT - 1) & 1)

    def close(self) -> None:
        os.write(self.wake_w, b"x")
        self.thread.join(timeout=5)
        for fd in (self.board, self.port, self.port_tty, self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if os.path.lexists(self.link):
            os.unlink(self.link)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
