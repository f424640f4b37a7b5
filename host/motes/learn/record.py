"""`motes record`: labelled rows from a board's sensor, into a CSV file.

A sampling script runs on the board (a file from this computer, or the board's
own main.py) and prints one reading a line, either as CSV (a header line of
names first, then numbers) or as `key=value` pairs (`moisture=38211 temp_c=21.4`,
separated by spaces or commas). Each reading becomes a row of the CSV file:

    timestamp,<the script's names...>,label

`timestamp` is the PC's clock (ISO 8601, UTC, when the line arrived) and
`label` the --label given. `motes train` and `motes evaluate` skip the
timestamp column. Rows are appended to an existing file whose header is the
same (another header is refused before anything is written), and each row is
written and flushed as it arrives: Ctrl-C, a reset board or a pulled cable
keep every row received so far.

The script also finds the label in a global `LABEL` (a real sensor ignores
it; the examples' simulated sensors, on the emulated board, use it to choose
what to simulate). Lines that are neither (messages, warnings) are shown on
stderr as `board: ...`, never written.
"""
from __future__ import annotations

import csv
import datetime
import signal
import sys
import time
from pathlib import Path

from ..board.transport import BoardError, SerialBoard
from ..board.emulate import resolve_port

TIMESTAMP, LABEL = "timestamp", "label"
# What a board prints when it restarts: MicroPython's banner, its soft reboot, ESP32's ROM
RESET_BANNERS = ("MicroPython v", "MPY: soft reboot", "soft reboot", "rst:0x", "ets ")


def _number(s: str):
    try:
        return float(s)
    except ValueError:
        return None


def parse_line(line: str):
    """("header", names) | ("row", {name: value} or [values]) | ("text", line)."""
    line = line.strip()
    if not line or line.startswith("#"):
        return ("text", line)
    if "=" in line:
        pairs = {}
        for part in line.replace(",", " ").split():
            k, sep, v = part.partition("=")
            if not sep or not k or _number(v) is None:
                return ("text", line)
            pairs[k] = v
        return ("row", pairs)
    fields = [f.strip() for f in line.split(",")]
    numbers = [_number(f) for f in fields]
    if all(n is not None for n in numbers):
        return ("row", fields)
    if len(fields) > 1 and all(n is None and f and f.replace("_", "").isalnum() for f, n in zip(fields, numbers)):
        return ("header", fields)
    return ("text", line)


class Sink:
    """The CSV file: header checked (or written) at the first reading, then a row per reading."""

    def __init__(self, path: Path, label: str):
        self.path, self.label = Path(path), label
        self.names: list[str] | None = None
        self.f = None
        self.rows = 0
        self.existing = None
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, newline="") as f:
                self.existing = next(csv.reader(f), None)

    def header(self, names: list[str]) -> None:
        if self.names is not None:
            if names != self.names:
                raise BoardError(f"the script changed its columns mid-recording ({','.join(names)} after "
                                 f"{','.join(self.names)})")
            return
        for bad in (TIMESTAMP, LABEL):
            if bad in names:
                raise BoardError(f"the script prints a column named {bad!r}: motes record adds that column "
                                 "itself, rename it in the script")
        full = [TIMESTAMP] + names + [LABEL]
        if self.existing is not None and [h.strip() for h in self.existing] != full:
            raise BoardError(f"{self.path} has the columns {','.join(self.existing)} but the board prints "
                             f"{','.join(full)}: record into a new file (-o)")
        self.names = names
        fresh = self.existing is None
        self.f = open(self.path, "a", newline="")
        self.w = csv.writer(self.f, lineterminator="\n")
        if fresh:
            self.w.writerow(full)
            self.f.flush()

    def row(self, values) -> None:
        if isinstance(values, dict):
            self.header(self.names if self.names is not None and set(values) == set(self.names)
                        else list(values))
            values = [values[k] for k in self.names]
        elif self.names is None:
            self.header([f"c{i + 1}" for i in range(len(values))])
        if len(values) != len(self.names):
            raise BoardError(f"a line has {len(values)} values, the header {len(self.names)} "
                             f"({','.join(self.names)})")
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        self.w.writerow([now] + list(values) + [self.label])
        self.f.flush()
        self.rows += 1

    def close(self) -> None:
        if self.f:
            self.f.close()


class Live:
    """Rows and rows per second on one stderr line, rewritten in place on a terminal."""

    def __init__(self, stream=sys.stderr):
        self.stream, self.tty, self.t0, self.last = stream, stream.isatty(), time.monotonic(), 0.0

    def rate(self, rows: int) -> float:
        dt = time.monotonic() - self.t0
        return rows / dt if dt > 0 else 0.0

    def update(self, rows: int, force=False) -> None:
        now = time.monotonic()
        if self.tty and (force or now - self.last > 0.2):
            self.stream.write(f"\r  {rows} rows, {self.rate(rows):.1f} rows/s ")
            self.stream.flush()
            self.last = now

    def say(self, msg: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(msg + "\n")
        self.stream.flush()


class _Done(Exception):
    pass


# Put before the script on the board. A board's firmware stops a running program
# when Ctrl-C arrives on its serial port; the unix port (the emulated board) only
# when its terminal sends SIGINT, which a pseudo-terminal in raw mode does not. So
# print() also looks for a Ctrl-C waiting on stdin (select.poll, MicroPython and
# CircuitPython both have it) and stops the script there.
_PRELUDE = """\
LABEL = %r
try:
    import select as _mt_sel, sys as _mt_sys
    _mt_poll = _mt_sel.poll()
    _mt_poll.register(_mt_sys.stdin, _mt_sel.POLLIN)
except Exception:
    _mt_poll = None
def print(*a, **k):
    g = globals()      # (after the recording motes removes its _mt_ names, then this print)
    p = g.get('_mt_poll')
    if p is not None and p.poll(0) and g['_mt_sys'].stdin.read(1) == '\\x03':
        raise KeyboardInterrupt
    __import__('builtins').print(*a, **k)
"""
_CLEANUP = "for _n in ('print', 'LABEL'):\n    globals().pop(_n, None)\n"


def board_code(script: str | None, label: str) -> str:
    """What runs on the board: the script (or the board's main.py as __main__) after the prelude."""
    code = _PRELUDE % label
    if script is not None:
        return code + script
    return code + "exec(open('main.py').read(), {'__name__': '__main__', 'LABEL': LABEL, 'print': print})\n"


def record(port: str, out: Path, label: str, script: str | None = None, seconds: float | None = None,
           rows: int | None = None, baud: int = 115200, live: Live | None = None) -> dict:
    """Run the sampling code on the board and write its readings to `out` until `rows`
    rows, `seconds` seconds, the script's end, Ctrl-C or a lost board. Returns
    {rows, seconds, stopped}: why it stopped ("rows", "seconds", "script ended",
    "interrupted", "board lost" (the port went away), "board reset" (its banner came))."""
    if not label or "," in label or "\n" in label:
        raise BoardError(f"--label {label!r}: give a name or number without commas")
    live = live or Live()
    sink = Sink(out, label)      # (refuses nothing yet: the header comes from the board)
    port, emulated = resolve_port(port)
    board = SerialBoard(port, baudrate=baud, soft_reset=not emulated)
    t = board.t
    stopped, err, stuck = "script ended", b"", False
    buf = b""
    t0, elapsed = time.monotonic(), 0.0
    try:
        t.serial.timeout = 0.1
        try:
            t.exec_raw_no_follow(board_code(script, label))
        except Exception as e:
            raise BoardError(f"could not start the script on the board at {port}: {e}") from None
        live.t0 = t0 = time.monotonic()
        live.say(f"recording {label!r} from {board.describe()} into {out} (Ctrl-C stops)")
        try:
            while True:
                if seconds is not None and time.monotonic() - t0 >= seconds:
                    raise _Done("seconds")
                try:
                    data = t.serial.read(256)
                except OSError:        # (serial.SerialException is an OSError)
                    raise _Done("board lost") from None
                if not data:
                    live.update(sink.rows)
                    continue
                buf += data
                if b"\x04" in buf:     # the script ended: its output, then its error text
                    out_part, _, err = buf.partition(b"\x04")
                    buf = out_part + b"\n"
                    _lines(buf, sink, live, rows)
                    err = _rest_of_error(t, err)
                    t.enter_raw_repl(soft_reset=False)    # its '>' prompt anew, whatever was read
                    raise _Done("script ended")
                if b"\n" in buf:
                    done, _, buf = buf.rpartition(b"\n")
                    _lines(done, sink, live, rows)
                live.update(sink.rows)
        except _Done as d:
            stopped = str(d)
        except KeyboardInterrupt:
            stopped = "interrupted"
        except BoardError:
            stuck = not _stop(t)
            raise
        elapsed = time.monotonic() - t0
        if stopped in ("rows", "seconds", "interrupted"):
            stuck = not _stop(t)
    finally:
        sink.close()
        if stuck:
            live.say("the script on the board did not stop on Ctrl-C: reset the board before using it again")
        if stopped in ("board lost", "board reset") or stuck:
            board._close_quietly()
        else:
            try:
                board._call(_CLEANUP, timeout=5)
            except BoardError:
                pass
            board.close()
    rate = sink.rows / elapsed if elapsed > 0 else 0.0
    msg = err.decode(errors="replace").strip()
    if stopped == "script ended" and msg and "KeyboardInterrupt" not in msg:
        live.say(f"the script on the board stopped with an error: {msg.splitlines()[-1]}")
    live.say(f"{sink.rows} rows ({rate:.1f} rows/s) labelled {label!r} "
             f"{'appended to' if sink.existing else 'written to'} {out}; stopped: {stopped}")
    return {"rows": sink.rows, "seconds": elapsed, "stopped": stopped, "error": msg}


def _lines(data: bytes, sink: Sink, live: Live, limit: int | None) -> None:
    for raw in data.split(b"\n"):
        line = raw.decode(errors="replace").replace("\r", "")
        kind, value = parse_line(line)
        if kind == "header":
            sink.header(value)
        elif kind == "row":
            if limit is not None and sink.rows >= limit:
                raise _Done("rows")
            sink.row(value)
            if limit is not None and sink.rows >= limit:
                raise _Done("rows")
        elif value.startswith(RESET_BANNERS):
            raise _Done("board reset")     # its port stayed (a USB-serial chip): the script is gone
        elif value:
            live.say(f"board: {value}")


def _rest_of_error(t, err: bytes) -> bytes:
    """After the first EOF: the error text up to the second (read a byte at a time, so
    the raw REPL's '>' prompt after it stays for the next command)."""
    if b"\x04" not in err:
        err += t.read_until(1, b"\x04", timeout=5, timeout_overall=10)
    return err.partition(b"\x04")[0]


def _stop(t) -> bool:
    """Ctrl-C the script on the board; True once the raw REPL has taken over again."""
    try:
        t.serial.write(b"\x03")
        for _ in range(2):          # the end of its output, then of its traceback
            if not t.read_until(1, b"\x04", timeout=5, timeout_overall=10).endswith(b"\x04"):
                return False
        return True
    except OSError:
        return False


def add_arguments(s) -> None:
    s.add_argument("--port", required=True, help="the board's serial port; @ = the board of `motes emulate -- ...`")
    s.add_argument("--script", help="a sampling script (.py) from this computer to run on the board "
                                    "(default: the board's own main.py)")
    s.add_argument("--label", required=True, help="the label of every row of this recording (dry, 2, shake...)")
    stop = s.add_mutually_exclusive_group()
    stop.add_argument("--seconds", type=float, help="stop after this many seconds")
    stop.add_argument("--rows", type=int, help="stop after this many rows")
    s.add_argument("-o", "--output", required=True, help="the CSV file (appended to when it exists)")
    s.add_argument("--baud", type=int, default=115200)


def do_record(args) -> int:
    script = None
    if args.script:
        p = Path(args.script)
        if not p.is_file():
            raise BoardError(f"--script {p}: not found")
        script = p.read_text()
    if args.rows is not None and args.rows < 1:
        raise BoardError("--rows: give at least 1")
    if args.seconds is not None and args.seconds <= 0:
        raise BoardError("--seconds: give a time above 0")
    # Ctrl-C is how a recording stops. A command started in the background by a
    # non-interactive shell (`cmd &` in a script) inherits SIGINT ignored, and Python
    # then leaves it ignored: such a recording would never stop on SIGINT
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    r = record(args.port, Path(args.output), args.label, script, seconds=args.seconds, rows=args.rows,
               baud=args.baud)
    return 0 if r["rows"] else 1
