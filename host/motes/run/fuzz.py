"""Seeded, structure-aware fuzzing of the .mote reader (every backend) and the .tflite importer.

A mutant .mote is made from a valid one: the sections are taken apart, one of
them (or the table, or the header) is damaged in a way that knows the format
(a varint replaced by a boundary value, a byte of a section set, flipped or
inserted, a section cut or lengthened, dropped, swapped or relabelled, bytes
appended), and the file size and CRC-32 are recomputed so that the damage
reaches the parser. Every mutant is then run by each backend:

- the host reader and the numpy executor (``format.from_bytes``, ``Executor``);
- the device runtime in the MicroPython unix port with each of its backends
  (python, viper, native), all files of a batch in one MicroPython process.

A file is either accepted by all of them, with the same output for one
seeded input, or refused by all of them: the host with a ``FormatError``
(``ModelError``), the board with a ``MoteError`` (or a ``MemoryError`` for a
well-formed model that does not fit). Anything else is a finding: a crash
(another exception type), a hang, or a disagreement.

``campaign()`` runs it; ``bench/fuzz.py`` and ``make fuzz`` run a long one and
print the table of outcomes, ``tests/device/test_fuzz.py`` a short one.
"""
from __future__ import annotations

import random
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from ..mote import HEADER, Reader, put_uvarint


BOUNDARY = (0, 1, 2, 3, 4, 7, 8, 15, 16, 63, 64, 127, 128, 255, 256, 4095, 4096, 32767, 65535,
            65536, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63)
DEVICE_BACKENDS = ("python", "viper", "native")


# ---- .mote mutation ----------------------------------------------------------------

def split(data: bytes) -> tuple[tuple, list[list]]:
    """(header fields, [[kind, payload bytes], ...]) of a valid .mote."""
    head = HEADER.unpack_from(data)
    pos = HEADER.size
    n, pos = _read_uv(data, pos)
    table = []
    for _ in range(n):
        kind = data[pos]
        length, pos = _read_uv(data, pos + 1)
        table.append([kind, length])
    out = []
    for kind, length in table:
        out.append([kind, bytes(data[pos:pos + length])])
        pos += length
    return head, out


def _read_uv(data, pos):
    r = Reader(bytes(data), "fuzz")
    r.pos = pos
    return r.uvarint(), r.pos


def join(head: tuple, sections: list, lengths: dict | None = None, trailing: bytes = b"",
         crc: bool = True) -> bytes:
    """Assemble a .mote; lengths: {section index: length to write in the table instead of the real one}."""
    body = bytearray()
    put_uvarint(body, len(sections))
    for i, (kind, payload) in enumerate(sections):
        body.append(kind & 0xFF)
        put_uvarint(body, (lengths or {}).get(i, len(payload)))
    for _, payload in sections:
        body += payload
    body += trailing
    magic, major, minor, flags, _, old_crc = head
    c = zlib.crc32(bytes(body)) if crc else old_crc
    return HEADER.pack(magic, major, minor, flags, HEADER.size + len(body), c) + bytes(body)


def _varint_at(b: bytes, rng: random.Random) -> tuple[int, int] | None:
    """A (start, end) of a varint-looking run in b: a start chosen at random, up to its last byte."""
    if not b:
        return None
    start = rng.randrange(len(b))
    end = start
    while end < len(b) and b[end] & 0x80:
        end += 1
    return (start, min(end + 1, len(b)))


def mutate_mote(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One CRC-valid mutant of a valid .mote and a short name of what was done."""
    head, secs = split(data)
    secs = [[k, bytearray(p)] for k, p in secs]
    lengths, trailing = {}, b""
    what = rng.choice(("varint", "varint", "varint", "byte", "byte", "flip", "flip", "insert", "delete",
                       "cut", "grow", "length", "drop", "swap", "kind", "trailing", "header", "table"))
    i = rng.randrange(len(secs))
    kind, p = secs[i]
    name = f"{what}@s{i}"
    if what == "varint" and p:
        at = _varint_at(bytes(p), rng)
        enc = bytearray()
        put_uvarint(enc, rng.choice(BOUNDARY))
        p[at[0]:at[1]] = enc
    elif what == "byte" and p:
        p[rng.randrange(len(p))] = rng.choice((0, 1, 2, 0x0F, 0x10, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xC0, 0xFE, 0xFF))
    elif what == "flip" and p:
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
    elif what == "insert":
        at = rng.randrange(len(p) + 1)
        p[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 1, 2, 4, 9))))
    elif what == "delete" and p:
        at = rng.randrange(len(p))
        del p[at:at + rng.choice((1, 1, 2, 4, 9))]
    elif what == "cut" and p:
        del p[rng.randrange(len(p)):]
    elif what == "grow":
        p += bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 100))))
    elif what == "length":
        lengths[i] = max(0, len(p) + rng.choice((-1, 1, 2, 1 << 32, 1 << 63, -len(p))))
    elif what == "drop" and len(secs) > 1:
        del secs[i]
    elif what == "swap" and len(secs) > 1:
        j = rng.randrange(len(secs))
        secs[i], secs[j] = secs[j], secs[i]
    elif what == "kind":
        secs[i][0] = rng.choice((0, 1, 2, 3, 4, 5, 255))
    elif what == "trailing":
        trailing = bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 100))))
    elif what == "header":
        # bytes 5-7: minor version and flags
        h = list(head)
        if rng.random() < 0.5:
            h[2] = rng.choice((0, 1, 3, 9, 255))
        else:
            h[3] = rng.choice((1, 2, 0x100, 0x8000, 0xFFFF))
        head = tuple(h)
    elif what == "table":
        # the section count
        out = join(head, secs, lengths, trailing)
        enc = bytearray()
        put_uvarint(enc, rng.choice((0, 1, 2, len(secs) + 1, 1 << 20, 1 << 40)))
        body = bytearray(out[HEADER.size:])
        _, end = _read_uv(body, 0)
        body[0:end] = enc
        return HEADER.pack(head[0], head[1], head[2], head[3], HEADER.size + len(body),
                           zlib.crc32(bytes(body))) + bytes(body), name
    return join(head, [(k, bytes(p)) for k, p in secs], lengths, trailing), name


def mutants(bases: list[bytes], n: int, seed: int):
    """n (name, bytes) mutants of the base .mote files, seeded; 1 in 8 is mutated twice."""
    rng = random.Random(seed)
    for k in range(n):
        b = rng.randrange(len(bases))
        data, what = mutate_mote(bases[b], rng)
        if rng.random() < 0.125:
            try:
                data, w2 = mutate_mote(data, rng)
                what += "+" + w2
            except (IndexError, ValueError, struct.error):
                pass
        yield f"m{seed}_{k}_b{b}_{what}", data


# ---- running every backend ----------------------------------------------------------

def seeded_input(n: int) -> np.ndarray:
    """The one input each backend runs: the same bytes everywhere."""
    return ((np.arange(n, dtype=np.int64) * 37 + 11) & 0xFF).astype(np.uint8).view(np.int8)


MAX_HOST_ARENA = 1 << 26


def host_outcome(data: bytes, what: str = "fuzz") -> tuple[str, str]:
    """('ok', output hex) or ('refused', message) from the host reader and executor;
    any exception but FormatError/ModelError is a ('crash', ...)."""
    from .executor import Executor
    from ..mote import from_bytes
    from ..compiler.graph import ModelError
    try:
        model = from_bytes(data, what)
        t = model.tensors[model.inputs[0]]
        out = Executor(model).run([seeded_input(t.nbytes).reshape(t.shape)])[0]
        return "ok", np.asarray(out).astype(np.int8).tobytes().hex()
    except ModelError as e:
        return "refused", str(e)
    except Exception as e:  # noqa: BLE001 - this is what the fuzzer is looking for
        return "crash", f"{type(e).__name__}: {e}"


_BATCH = r"""
import sys, gc
sys.path.insert(0, {device!r})
import motes
motes.kernels.use({backend!r})


def one(path, mode):
    net = motes.load(path, mode=mode, verbose=False)
    x = net.input_buffer()
    for i in range(len(x)):
        x[i] = (i * 37 + 11) & 255
    out = net.predict_int8(None)
    return bytes(out).hex()


def main():
    f = open({listing!r})
    for line in f:
        path = line.strip()
        if not path:
            continue
        try:
            r = "ok " + one(path, {mode!r})
        except MemoryError as e:
            r = "mem " + str(e)
        except motes.MoteError as e:
            r = "refused " + str(e)
        except Exception as e:
            r = "crash " + type(e).__name__ + ": " + str(e)
        print("@" + path + "\t" + r.replace("\n", " "))
        gc.collect()


main()
print("@@done")
"""


def device_outcomes(paths: list[Path], backend: str, heap: str = "4M", mode: str | None = "resident",
                    timeout: float = 600, exe: str | None = None) -> dict[str, tuple[str, str]]:
    """{path: (outcome, detail)} of the device runtime with one backend, all files in one
    MicroPython process; a process that dies or hangs is restarted after the file it was on
    (which is then a 'crash' or 'hang'). exe: another interpreter of the same command line
    (CircuitPython's unix port), given the runtime's sources: it refuses MicroPython's .mpy."""
    from ..board import device_build
    from .. import resources
    from . import mpy_engine
    device = resources.runtime_dir().parent if exe else device_build.build("x64")
    todo = [str(p) for p in paths]
    got: dict[str, tuple[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        while todo:
            listing = Path(tmp) / "list.txt"
            listing.write_text("\n".join(todo) + "\n")
            script = Path(tmp) / "batch.py"
            script.write_text(_BATCH.format(device=str(device), backend=backend, listing=str(listing), mode=mode))
            per_file = max(5.0, timeout / max(1, len(todo)))
            try:
                proc = subprocess.run([exe or mpy_engine.micropython_path(), "-X", f"heapsize={heap}", str(script)],
                                      capture_output=True, text=True, timeout=timeout)
                out, hung = proc.stdout, False
            except subprocess.TimeoutExpired as e:
                out, hung = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), True
            for line in out.splitlines():
                if line.startswith("@") and not line.startswith("@@") and "\t" in line:
                    path, r = line[1:].split("\t", 1)
                    kind, _, detail = r.partition(" ")
                    got[path] = (kind, detail)
            rest = [p for p in todo if p not in got]
            if rest and "@@done" not in out:
                got[rest[0]] = ("hang" if hung else "crash", (proc.stderr if not hung else "")[-300:]
                                if not hung else f"no answer in {per_file:.0f} s")
                rest = rest[1:]
            todo = rest
    return got


# the load mode each backend runs the mutants in: both modes' code paths are covered
MODES = {"python": "resident", "viper": "streaming", "native": "streaming"}


def campaign(bases: list[bytes], n: int, seed: int = 0, backends=DEVICE_BACKENDS, workdir: Path | None = None,
             heap: str = "4M", modes: dict | None = None) -> dict:
    """Mutate, run every backend, compare. Returns the table of outcomes and the findings."""
    own = workdir is None
    tmp = tempfile.TemporaryDirectory() if own else None
    root = Path(tmp.name) if own else Path(workdir)
    try:
        files, host = [], {}
        for name, data in mutants(bases, n, seed):
            p = root / f"{name}.mote"
            p.write_bytes(data)
            files.append(p)
            host[str(p)] = host_outcome(data, p.name)
        dev = {b: device_outcomes(files, b, heap=heap, mode=(modes or MODES).get(b, "resident")) for b in backends}
        table: Counter = Counter()
        findings = []
        for p in files:
            k = str(p)
            results = {"host": host[k], **{b: dev[b][k] for b in backends}}
            kinds = {r[0] if r[0] != "mem" else "refused" for r in results.values()}
            bad = [f"{who}: {r[0]} {r[1][:200]}" for who, r in results.items() if r[0] in ("crash", "hang")]
            if not bad and results["host"][0] == "ok" and all(
                    dev[b][k][0] == "mem" and "needs" in dev[b][k][1] for b in backends):
                # a well-formed model too big for the board's heap: MemoryError naming the need
                table["accepted, too big for the heap"] += 1
                continue
            if bad:
                table["crash or hang"] += 1
                findings.append((p.name, bad))
            elif len(kinds) > 1:
                table["accept/reject disagree"] += 1
                findings.append((p.name, [f"{who}: {r[0]} {r[1][:120]}" for who, r in results.items()]))
            elif kinds == {"ok"}:
                outs = {r[1] for r in results.values()}
                if len(outs) > 1:
                    table["outputs disagree"] += 1
                    findings.append((p.name, [f"{who}: {r[1][:40]}" for who, r in results.items()]))
                else:
                    table["accepted, same output"] += 1
            else:
                table["refused by all"] += 1
        return {"files": len(files), "table": dict(table), "findings": findings}
    finally:
        if tmp is not None:
            tmp.cleanup()


def format_table(result: dict) -> str:
    rows = ["accepted, same output", "accepted, too big for the heap", "refused by all",
            "accept/reject disagree", "outputs disagree", "crash or hang"]
    lines = [f"{result['files']} mutated files"]
    for r in rows:
        lines.append(f"  {r:<31} {result['table'].get(r, 0):>7}")
    return "\n".join(lines)


# ---- .tflite mutation -------------------------------------------------------------

def _vector(tab, slot: int, size: int) -> list[int]:
    """Byte positions of the elements of a vector field of a flatbuffer table."""
    o = tab.Offset(slot)
    if not o:
        return []
    start, n = tab.Vector(o), tab.VectorLen(o)
    return [start + k * size for k in range(n)]


def _scalar(tab, slot: int) -> list[int]:
    o = tab.Offset(slot)
    return [tab.Pos + o] if o else []


def _table_fields(tab) -> list[int]:
    """Positions of every field present in a table (its vtable), for the options tables."""
    import flatbuffers
    vt = tab.Pos - flatbuffers.encode.Get(flatbuffers.packer.soffset, tab.Bytes, tab.Pos)
    size = flatbuffers.encode.Get(flatbuffers.packer.voffset, tab.Bytes, vt)
    out = []
    for slot in range(4, size, 2):
        o = flatbuffers.encode.Get(flatbuffers.packer.voffset, tab.Bytes, vt + slot)
        if o:
            out.append(tab.Pos + o)
    return out


def tflite_fields(data: bytes) -> list[tuple[int, str]]:
    """(position, kind) of the fields the importer reads: tensor shapes, types and buffers,
    quantization scales and zero points, operator codes, inputs, outputs and options,
    the subgraph's inputs and outputs, some weight bytes. Kinds: i32, u32, i8, f32, i64, u8."""
    import tflite
    m = tflite.Model.GetRootAsModel(data, 0)
    out = []
    for k in range(m.OperatorCodesLength()):
        t = m.OperatorCodes(k)._tab
        out += [(p, "i8") for p in _scalar(t, 4)] + [(p, "i32") for p in _scalar(t, 10)]
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        out += [(p, "i32") for p in _vector(sg._tab, 6, 4) + _vector(sg._tab, 8, 4)]
        for k in range(sg.TensorsLength()):
            t = sg.Tensors(k)
            out += [(p, "i32") for p in _vector(t._tab, 4, 4)]
            out += [(p, "i8") for p in _scalar(t._tab, 6)] + [(p, "u32") for p in _scalar(t._tab, 8)]
            q = t.Quantization()
            if q is not None:
                out += [(p, "f32") for p in _vector(q._tab, 8, 4)] + [(p, "i64") for p in _vector(q._tab, 10, 8)]
                out += [(p, "i32") for p in _scalar(q._tab, 16)]
        for k in range(sg.OperatorsLength()):
            op = sg.Operators(k)
            out += [(p, "u32") for p in _scalar(op._tab, 4)]
            out += [(p, "i32") for p in _vector(op._tab, 6, 4) + _vector(op._tab, 8, 4)]
            opt = op.BuiltinOptions()
            if opt is not None:
                out += [(p, "u8") for p in _table_fields(opt)]
    for k in range(m.BuffersLength()):
        pos = _vector(m.Buffers(k)._tab, 4, 1)
        out += [(p, "u8") for p in pos[:: max(1, len(pos) // 8)]]
    return out


_TF_VALUES = {
    "i32": (0, 1, 2, 3, -1, 7, 255, 1 << 15, 1 << 24, (1 << 31) - 1, -(1 << 31)),
    "u32": (0, 1, 2, 3, 255, 1 << 16, (1 << 32) - 1),
    "i8": (0, 1, 2, 3, 9, 10, 17, 25, 100, 127, -1, -128),
    "u8": (0, 1, 2, 3, 4, 6, 255),
    "f32": (0.0, -1.0, 1e-30, 1e30, float("inf"), float("nan"), 3.0),
    "i64": (0, 1, -1, 127, -129, 1 << 40),
}
_TF_FMT = {"i32": "<i", "u32": "<I", "i8": "<b", "u8": "<B", "f32": "<f", "i64": "<q"}


def mutate_tflite(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One mutant of a valid .tflite: one to three of the fields the importer reads set to a
    boundary value, the flatbuffer's structure left intact so that the damage reaches the parser."""
    fields = tflite_fields(data)
    out = bytearray(data)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        pos, kind = rng.choice(fields)
        v = rng.choice(_TF_VALUES[kind])
        struct.pack_into(_TF_FMT[kind], out, pos, v)
        names.append(f"{kind}@{pos}={v}")
    return bytes(out), "+".join(names)


def tflite_campaign(bases: list[bytes], n: int, seed: int = 0, timeout: float = 20.0) -> dict:
    """Convert n mutated .tflite files in this process: each must convert or raise a ModelError
    (one line, no traceback), within timeout seconds; a converted one must read back."""
    import signal
    import warnings
    from ..api import convert
    from ..mote import from_bytes
    from ..compiler.graph import ModelError
    rng = random.Random(seed)
    table: Counter = Counter()
    findings = []

    def alarm(*_):
        raise TimeoutError("hang")
    old = signal.signal(signal.SIGALRM, alarm)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(n):
                b = rng.randrange(len(bases))
                data, what = mutate_tflite(bases[b], rng)
                p = Path(tmp) / f"t{seed}_{k}.tflite"
                p.write_bytes(data)
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        conv = convert(p)
                    from_bytes(conv.data, p.name)
                    table["converted"] += 1
                except ModelError:
                    table["refused (one line)"] += 1
                except TimeoutError:
                    table["crash or hang"] += 1
                    findings.append((f"t{seed}_{k}_b{b}_{what}", "hang"))
                except Exception as e:  # noqa: BLE001 - what the fuzzer looks for
                    table["crash or hang"] += 1
                    findings.append((f"t{seed}_{k}_b{b}_{what}", f"{type(e).__name__}: {e}"))
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, old)
    return {"files": n, "table": dict(table), "findings": findings}
