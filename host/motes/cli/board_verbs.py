"""The board verbs of the `motes` command: deploy, emulate, flash, repl, romfs, build-device."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..board import deploy as dep
from ..board.transport import BoardError, DriveBoard, SerialBoard
from ..board.emulate import DEFAULT_FOLDER, EmulatedBoard, resolve_port


def add_deploy(s) -> None:
    s.add_argument("model", nargs="?", help=".mote to copy (default: the example's own)")
    s.add_argument("--example", help=f"also copy an example's files ({', '.join(dep.examples())})")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of a MicroPython board (/dev/ttyUSB0, /dev/ttyACM0, "
                                      "COM3); auto = the one USB board attached, as mpremote finds it; "
                                      "@ = the board of `motes emulate -- ...`. Neither --port nor "
                                      "--drive: the one board attached")
    where.add_argument("--drive", help="mount point of a CIRCUITPY drive; auto = the one mounted")
    s.add_argument("--circuitpython", action="store_true",
                   help="the board runs CircuitPython (found by itself on a CIRCUITPY drive or over serial)")
    s.add_argument("--yes", action="store_true",
                   help="replace a main.py / code.py that motes did not write without asking")
    s.add_argument("--all", action="store_true", help="copy every file, even unchanged ones")
    s.add_argument("--run", action="store_true", help="then run the example's main() (or load the model "
                                                       "and print it) and show the board's output")
    s.add_argument("--no-reset", action="store_true", help="join the running board without a soft reset")
    s.add_argument("--baud", type=int, default=115200)


def open_board(args):
    from ..board import attach
    port, drive, found = attach.choose(args.port, args.drive)
    if found:
        print(found, file=sys.stderr)
    if drive:
        return DriveBoard(drive)
    port, emulated = resolve_port(port)
    return SerialBoard(port, baudrate=args.baud, soft_reset=not (emulated or args.no_reset))


def _ask_replace(names: list[str], yes: bool) -> None:
    from ..board import attach
    if not yes and not sys.stdin.isatty():
        dep.refuse(names)                       # no terminal to ask: the message says what to do
    attach.confirm(f"The board's {' and '.join(names)} was not written by motes: replace it?", yes, "")


def do_deploy(args) -> int:
    if not args.model and not args.example:
        raise BoardError("nothing to deploy: give a .mote, --example NAME, or both")
    model = Path(args.model) if args.model else None
    if model is not None and not model.is_file():
        raise BoardError(f"{model} not found")
    # what this installation lacks is said before any board is touched
    from ..board.device_build import sources
    sources()
    if args.example:
        dep.example_files(args.example)
    board = open_board(args)
    if args.circuitpython:
        board.info["implementation"] = "circuitpython"
    try:
        result = dep.deploy(board, model, args.example, force=args.all,
                            say=lambda m: print(m, file=sys.stderr), confirm=lambda names: _ask_replace(names, args.yes))
        if args.run:
            mote = next((d for d in result["files"] if d.endswith(".mote")), None)
            print("--- the board's output ---", file=sys.stderr, flush=True)
            program = "code" if board.info.get("implementation") == "circuitpython" else "main"
            board.run(dep.run_code(args.example, mote, program), echo=lambda t: (sys.stdout.write(t), sys.stdout.flush()))
    finally:
        board.close()
    return 0


def add_emulate(s) -> None:
    s.add_argument("--folder", default=DEFAULT_FOLDER,
                   help=f"the board's folder: flash/ (its files) and port (default {DEFAULT_FOLDER})")
    s.add_argument("--heap", default="256K", help="the board's RAM for Python objects (default 256K)")
    s.add_argument("--port", help="where to link the board's serial port (default FOLDER/port)")
    s.add_argument("--board", choices=["m3", "m0", "m0-no-native", "rv32"],
                   help="a 32-bit board instead: real MicroPython firmware under QEMU (../shared/boards), "
                        "its ROMFS holding the runtime for its architecture and the --rom files "
                        "(no writable filesystem: mpremote mount serves a folder)")
    s.add_argument("--rom", nargs="*", default=[], metavar="FILE",
                   help="--board m3/rv32: also put these files (models) in its ROMFS, at /rom/NAME")
    s.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- CMD...: run CMD while the board is up (CMD sees MOTES_PORT; --port @ finds it)")


def _emulate_qemu(args, cmd) -> int:
    from ..board import qemu_board
    from ..board.emulate import ENV_EMULATED, ENV_PORT
    k = qemu_board.kind(args.board)
    rom = None
    if k.romfs:
        rom = qemu_board.runtime_files(args.board)
        for f in args.rom:
            p = Path(f)
            if not p.is_file():
                raise BoardError(f"--rom {f}: no such file")
            rom[p.name] = p.read_bytes()
    elif args.rom:
        raise BoardError(f"--rom: the {args.board} board has no ROMFS partition; serve a folder with "
                         "mpremote mount instead")
    heap = None if args.heap == "256K" else args.heap      # (the unix board's default)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    link = Path(args.port) if args.port else folder / "port"
    with qemu_board.QemuBoard(args.board, heap=heap, rom=rom, connect=False) as board:
        if os.path.lexists(link):
            link.unlink()
        link.symlink_to(board.pty)
        try:
            print(f"emulated board: {k.cpu}, MicroPython firmware under QEMU, serial port {link} "
                  f"({board.pty})" + (f", runtime ({k.arch}) and {len(args.rom)} file(s) in /rom" if rom else
                                      ", no ROMFS: mpremote connect PORT mount FOLDER"),
                  file=sys.stderr, flush=True)
            if cmd:
                return _call_inside(cmd, dict(os.environ, **{ENV_PORT: str(link.resolve()), ENV_EMULATED: "1"}))
            print(f"try: mpremote connect {link} repl      (Ctrl-C here stops the board)",
                  file=sys.stderr, flush=True)
            try:
                board.proc.wait()
            except KeyboardInterrupt:
                pass
        finally:
            if os.path.lexists(link):
                link.unlink()
    return 0


def _call_inside(cmd: list[str], env: dict) -> int:
    """Run the command of `motes emulate -- CMD` and wait for it, with no venv activated:
    `motes` is this motes (this Python), and this Python's scripts folder (mpremote...)
    comes first on PATH. Ctrl-C in a terminal reaches CMD too (its process group): CMD
    decides what it means (motes record stops and keeps its rows), and the board stays
    up until CMD is done. (A handler, not SIG_IGN, which CMD would inherit.)"""
    import signal
    if cmd[0] == "motes":
        cmd = [sys.executable, "-m", "motes.cli"] + cmd[1:]
    bindir = os.path.dirname(sys.executable)
    env = dict(env, PATH=os.pathsep.join([bindir] + [p for p in env.get("PATH", "").split(os.pathsep) if p]))
    old = signal.signal(signal.SIGINT, lambda *a: None)
    try:
        return subprocess.call(cmd, env=env)
    except OSError as e:
        raise BoardError(f"cannot run {cmd[0]}: {e.strerror}") from None
    finally:
        signal.signal(signal.SIGINT, old)


def do_emulate(args) -> int:
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.board:
        return _emulate_qemu(args, cmd)
    with EmulatedBoard(args.folder, heap=args.heap, port=args.port) as board:
        print(f"emulated board: MicroPython unix port, {board.heap} heap, flash {board.flash}, "
              f"serial port {board.port}", file=sys.stderr, flush=True)
        if cmd:
            return _call_inside(cmd, board.env())
        print(f"try: motes deploy --example soil_moisture --port {board.port} --run\n"
              f"     mpremote connect {board.port} resume repl      (Ctrl-C here stops the board)",
              file=sys.stderr, flush=True)
        try:
            board.proc.wait()
        except KeyboardInterrupt:
            pass
    return 0


def add_flash(s) -> None:
    from ..board.flash import CHIPS
    s.add_argument("firmware", help="MicroPython firmware: .bin (ESP32) or .uf2 (RP2040/RP2350)")
    s.add_argument("--chip", required=True, choices=CHIPS)
    s.add_argument("--port", help="ESP32: serial port")
    s.add_argument("--drive", help="RP2040: the RPI-RP2 drive (found by itself when mounted)")
    s.add_argument("--baud", type=int, default=460800)
    s.add_argument("--circuitpython", action="store_true",
                   help="the board runs CircuitPython (found by itself on a CIRCUITPY drive or over serial)")
    s.add_argument("--yes", action="store_true", help="do not ask before erasing/copying")
    s.add_argument("--dry-run", action="store_true", help="print the steps and stop")


def do_flash(args) -> int:
    from ..board.flash import flash
    return flash(args.chip, Path(args.firmware), port=args.port, drive=args.drive, baud=args.baud,
                 yes=args.yes, dry_run=args.dry_run)


def add_repl(s) -> None:
    s.add_argument("model", nargs="?", help=".mote or .tflite to load as `net`")
    s.add_argument("--heap", default="256K", help="heap like a board's RAM (default 256K)")
    s.add_argument("--backend", choices=["python", "viper", "native"], help="kernels to use")


def repl_command(model: str | None, heap: str, backend: str | None) -> tuple[list[str], dict]:
    """The micropython command line and environment of `motes repl`."""
    from ..board import device_build
    from ..run import mpy_engine
    env = dict(os.environ, MICROPYPATH=str(device_build.build("x64")))
    code = ["import motes"]
    if backend:
        code.append(f"motes.kernels.use({backend!r})")
    if model:
        code += [f"net = motes.load({model!r})", "print(net)",
                 "print('net is loaded: try net.predict([...]), net.summary(), net.trace([...]), net.memory()')"]
    else:
        code.append("print('motes is imported: net = motes.load(\"model.mote\")')")
    return [mpy_engine.micropython_path(), "-X", f"heapsize={mpy_engine.parse_heap(heap)}", "-i",
            "-c", "\n".join(code)], env


def do_repl(args) -> int:
    model = args.model
    tmp = None
    if model:
        p = Path(model)
        if not p.is_file():
            raise BoardError(f"{p} not found")
        if p.read_bytes()[4:8] == b"TFL3":          # a .tflite: convert it for the session
            from .. import api
            tmp = tempfile.TemporaryDirectory(prefix="motes-repl-")
            model = os.path.join(tmp.name, p.stem + ".mote")
            Path(model).write_bytes(api.convert(p).data)
        else:
            model = str(p.resolve())
    cmd, env = repl_command(model, args.heap, args.backend)
    try:
        return subprocess.call(cmd, env=env)
    finally:
        if tmp:
            tmp.cleanup()


def add_romfs(s) -> None:
    from ..board.device_build import ARCHS
    s.add_argument("models", nargs="*", help=".mote files to put in the image too (read at /rom/NAME)")
    s.add_argument("--arch", required=True, choices=ARCHS,
                   help="the board's architecture (armv6m: RP2040, xtensawin: ESP32, armv7emsp: STM32F4...)")
    s.add_argument("-o", "--output", default="motes.romfs", help="the image to write (default motes.romfs)")
    s.add_argument("--no-native", action="store_true", help="leave out the C kernels (motes_native*.mpy)")


def do_romfs(args) -> int:
    """A ROMFS image of the runtime (and models) for firmware built with ROMFS."""
    from ..board import romfs
    from ..mote import from_bytes
    files = romfs.runtime_files(args.arch, native=not args.no_native)
    for m in args.models:
        p = Path(m)
        if p.suffix != ".mote" or not p.is_file():
            raise BoardError(f"{m}: not a .mote file (make one with 'motes convert')")
        from_bytes(p.read_bytes(), str(p), decode=False)     # refuses a broken model now
        files[p.name] = p.read_bytes()
    image = romfs.build_image(files)
    out = Path(args.output)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(image)
    tmp.replace(out)
    native = "lib/motes_native.mpy" in files
    print(f"{out}: {len(image):,} bytes, {len(files)} files: the runtime for {args.arch} as .mpy"
          f"{' with motes_native.mpy' if native else ' (no motes_native.mpy for this arch here: viper/python kernels)'}"
          f"{', ' + ', '.join(Path(m).name for m in args.models) if args.models else ''}")
    print(f"next: mpremote romfs deploy {out}   (firmware built with ROMFS, MicroPython 1.25+: it is "
          f"mounted at /rom and /rom/lib is on sys.path; see docs/DEVICE.md)")
    return 0


def add_build_device(s) -> None:
    from ..board.device_build import ARCHS
    s.add_argument("--arch", required=True, choices=ARCHS,
                   help="the board's architecture (armv6m: RP2040, xtensawin: ESP32, armv7emsp: STM32F4, "
                        "rv32imc: ESP32-C3, x64: the unix port)")
    s.add_argument("-o", "--output", help="folder to fill (default dist/device/ARCH)")


def do_build_device(args) -> int:
    """The runtime as .mpy files for a board (and the C kernels where they build): what
    `make device` leaves in dist/device/ARCH, from a checkout or an installed wheel."""
    from ..board import device_build
    src = device_build.build(args.arch)
    out = Path(args.output or Path("dist") / "device" / args.arch)
    if out.exists() and not out.is_dir():
        raise BoardError(f"-o {out}: a file is in the way; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "motes", ignore_errors=True)
    shutil.copytree(src / "motes", out / "motes")
    native = []
    for name in device_build.NATIVE_FILES:
        (out / name).unlink(missing_ok=True)
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
            native.append(name)
    n = len(list((out / "motes").glob("*.mpy")))
    if native:
        print(f"{out}: the runtime ({n} .mpy files) and the C kernels ({' and '.join(native)}) for {args.arch}")
        print(f"copy to the board: mpremote cp -r {out}/motes :lib/ + cp "
              + " ".join(f"{out}/{name}" for name in native) + " :lib/")
    else:
        print(f"{out}: the runtime ({n} .mpy files) for {args.arch}; no C kernels for {args.arch} here "
              "(the board uses the viper or Python kernels)")
        print(f"copy to the board: mpremote cp -r {out}/motes :lib/")
    return 0
