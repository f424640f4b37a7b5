"""The long fuzz campaign of issue #14: mutated .mote files over every backend, mutated .tflite
files through the importer; prints the table of outcomes.

    .venv/bin/python bench/fuzz.py [--n 20000] [--tflite 2000] [--seed 0] [--batch 2000]
        [--models hello_world_int8,micro_speech_quantized]

The .mote mutants (host/motes/run/fuzz.py: CRC-valid, structure-aware) are made from the
examples' small models (and --models from ../shared/models) and run by the host reader
and executor and by the device runtime in the MicroPython unix port with the python
(resident), viper and native (streaming) backends, in batches of --batch files per
MicroPython process. Every file must be accepted by all of them with the same output
or refused by all with their one error type; a crash, a hang or a disagreement is
listed. The .tflite mutants must convert or be refused in one line. Exit status 1 if
anything was found.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from motes import api  # noqa: E402
from motes.run import fuzz  # noqa: E402

EXAMPLES = ["hello_sine/hello_sine.mote", "digits/digits.mote", "soil_moisture/soil.mote", "gesture/gesture.mote"]
SHARED = ROOT.parent / "shared" / "models"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20000, help=".mote mutants (default 20000)")
    p.add_argument("--tflite", type=int, default=2000, help=".tflite mutants (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=2000, help=".mote files per campaign (one MicroPython process "
                                                           "per backend each)")
    p.add_argument("--models", default="hello_world_int8",
                   help="shared models to mutate besides the examples' (comma-separated)")
    args = p.parse_args(argv)
    bases = [(ROOT / "examples" / e).read_bytes() for e in EXAMPLES]
    names = [m for m in args.models.split(",") if m]
    bases += [api.convert(SHARED / f"{m}.tflite").data for m in names]
    t0 = time.time()
    total: Counter = Counter()
    findings = []
    done = 0
    while done < args.n:
        n = min(args.batch, args.n - done)
        r = fuzz.campaign(bases, n, seed=args.seed * 1000 + done // args.batch)
        total.update(r["table"])
        findings += r["findings"]
        done += n
        print(f"  {done} .mote files, {len(findings)} findings, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    print(fuzz.format_table({"files": done, "table": dict(total)}))
    for name, f in findings[:30]:
        print(f"  {name}\n    " + "\n    ".join(x[:200] for x in f))
    t = fuzz.tflite_campaign([(SHARED / f"{m}.tflite").read_bytes() for m in names or ["hello_world_int8"]],
                             args.tflite, seed=args.seed)
    print(f"{args.tflite} mutated .tflite files")
    for row in ("converted", "refused (one line)", "crash or hang"):
        print(f"  {row:<31} {t['table'].get(row, 0):>7}")
    for name, why in t["findings"][:30]:
        print(f"  {name}: {why[:200]}")
    print(f"{time.time() - t0:.0f} s")
    return 1 if findings or t["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
