"""Speed of the weight codecs: on the host (encode and decode, numpy) and in the
device runtime's decoders (the unix MicroPython, Python decoders of device/motes).

    .venv/bin/python bench/codecs_speed.py [--n 250000]

Host: 250,000 int8 weights in 30 tensors (two in three normal, one in three 85 %
zeros), every codec, encode then decode. Device: each array of 250,000 values
decoded whole (decode_all) and in RowStream pieces of 4,096, with the RAM its
decoder holds (gc.mem_alloc around the decoder's creation). Figures are for
the machine that runs this; the tests check what is decoded and the decoders'
RAM (tests/device/test_device_decode.py), not the speed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from motes.codecs import CODECS  # noqa: E402
from motes.run.mpy_engine import micropython_path  # noqa: E402

HUFFMAN, ZERORUN, RICE, BITPACK = 1, 2, 3, 4

_DEVICE = r"""
import sys, gc, time
sys.path.insert(0, {device!r})
from motes.decode import decode_all, RowStream, DECODERS
from motes.structs import Const
f = open({payloads!r}, "rb")
for name, codec, n, pos, size in {cases!r}:
    ref = Const(codec, 0, (n,), pos, size, n)
    decode_all(f, ref)  # imports the decoder's module
    gc.collect()
    before = gc.mem_alloc()
    dec = DECODERS[codec](f, ref)
    gc.collect()
    ram = gc.mem_alloc() - before
    dec = None
    t = time.ticks_us()
    a = decode_all(f, ref)
    t_all = time.ticks_diff(time.ticks_us(), t)
    a = None
    gc.collect()
    t = time.ticks_us()
    s = RowStream(f, ref, 4096)
    left = n
    while left:
        m = min(4096, left)
        s.next(m)
        left -= m
    t_rows = time.ticks_diff(time.ticks_us(), t)
    print("%d %d %d" % (ram, t_all, t_rows))
"""


def q8(x):
    return np.round(np.clip(x, -128, 127)).astype(np.int8)


def host(n: int) -> None:
    rng = np.random.default_rng(70)
    sizes = [n // 30] * 30
    tensors = [q8(rng.normal(0, 25, k)) if i % 3 else (q8(rng.normal(0, 25, k)) * (rng.random(k) >= 0.85))
               .astype(np.int8) for i, k in enumerate(sizes)]
    t0 = time.perf_counter()
    payloads = [[codec.encode(t) for codec in CODECS.values()] for t in tensors]
    t1 = time.perf_counter()
    for t, row in zip(tensors, payloads):
        for codec, payload in zip(CODECS.values(), row):
            codec.decode(payload, t.size)
    t2 = time.perf_counter()
    print(f"host, {sum(sizes):,} weights in {len(sizes)} tensors, {len(CODECS)} codecs each: "
          f"encode {t1 - t0:.2f} s, decode {t2 - t1:.2f} s")


def device(n: int) -> None:
    rng = np.random.default_rng(5)
    arrays = [("huffman laplace(12)", HUFFMAN, q8(rng.laplace(0, 12, n))),
              ("huffman normal(25)", HUFFMAN, q8(rng.normal(0, 25, n))),
              ("huffman laplace(3)", HUFFMAN, q8(rng.laplace(0, 3, n))),
              ("zerorun 90% zeros", ZERORUN, (q8(rng.normal(0, 25, n)) * (rng.random(n) > 0.9)).astype(np.int8)),
              ("zerorun 50% zeros", ZERORUN, (q8(rng.normal(0, 25, n)) * (rng.random(n) > 0.5)).astype(np.int8)),
              ("bitpack uniform", BITPACK, rng.integers(-128, 128, n).astype(np.int8)),
              ("rice laplace(3)", RICE, q8(rng.laplace(0, 3, n)))]
    blob, cases = bytearray(), []
    for name, cid, arr in arrays:
        payload = CODECS[cid].encode(arr)
        cases.append((name, cid, arr.size, len(blob), len(payload)))
        blob += payload
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "p").write_bytes(bytes(blob))
        script = Path(tmp) / "bench.py"
        script.write_text(_DEVICE.format(device=str(ROOT / "device"), payloads=str(Path(tmp) / "p"), cases=cases))
        proc = subprocess.run([micropython_path(), str(script)], capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, MICROPYPATH=""))
    if proc.returncode:
        sys.exit(proc.stdout + proc.stderr)
    print(f"\ndevice decoders (Python, unix MicroPython), {n:,} values each")
    print(f"{'array':<22} {'payload':>9} {'decoder RAM':>12} {'decode_all':>12} {'RowStream(4096)':>16}")
    for (name, _, count, _, size), line in zip(cases, proc.stdout.split("\n")):
        ram, t_all, t_rows = map(int, line.split())
        print(f"{name:<22} {size:>7,} B {ram:>10,} B {count / t_all:>7.2f} Msym/s {count / t_rows:>9.2f} Msym/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=250_000)
    args = ap.parse_args()
    host(args.n)
    device(args.n)


if __name__ == "__main__":
    main()
