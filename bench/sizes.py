"""Compression benchmark: .mote size against .tflite size and the entropy bound.

    .venv/bin/python bench/sizes.py [--json] [--plot bench/sizes.png] [--format 1.0|1.1]

For each shared model: .tflite bytes, .mote bytes, ratio (and the target of
issue #2), int8 weights packed against their order-0 entropy plus code-table
bytes, params (bias, multipliers, shifts) raw against packed, and conversion
time. Also a synthetic pruned model (>= 80% zero weights) for the sparse codec.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from motes import api, codecs  # noqa: E402
from motes.run import report  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
TARGETS = {"person_detect": 0.70, "micro_speech_quantized": 0.78,
           "mlperf_tiny_kws_ref_model": 0.47, "hello_world_int8": 0.40}


def measure(path: Path, options=None) -> dict:
    t0 = time.perf_counter()
    conv = api.convert(path, options=options)
    seconds = time.perf_counter() - t0
    info = report.summary(conv.model, len(conv.data), len(conv.tflite))
    bound = info["entropy_bound_bytes"] + info["table_bytes"]
    return dict(model=path.stem, tflite_bytes=len(conv.tflite), mote_bytes=len(conv.data),
                ratio=info["ratio"], target=TARGETS.get(path.stem),
                weights=info["weights"], weights_packed=info["weights_packed_bytes"],
                entropy_bound=round(info["entropy_bound_bytes"]), table_bytes=info["table_bytes"],
                packed_over_bound=round(info["weights_packed_bytes"] / bound, 4) if bound else None,
                params_raw=info["params_raw_bytes"], params_packed=info["params_packed_bytes"],
                convert_seconds=round(seconds, 3))


def sparse_case(seed: int = 0, n: int = 60_000, zero_fraction: float = 0.85) -> dict:
    """A pruned-like weight tensor: trained-like int8 values with 85% zeros."""
    rng = np.random.default_rng(seed)
    w = np.clip(np.round(rng.normal(0, 30, n)), -127, 127).astype(np.int8)
    w[rng.random(n) < zero_fraction] = 0
    codec_id, payload = codecs.pack(w)
    codec = codecs.CODECS[codec_id]
    bound = codecs.entropy_bits(w) / 8 + codec.table_bytes(payload)
    return dict(model=f"synthetic pruned ({zero_fraction:.0%} zeros)", weights=n,
                weights_packed=len(payload), entropy_bound=round(codecs.entropy_bits(w) / 8),
                table_bytes=codec.table_bytes(payload), codec=codec.name,
                packed_over_bound=round(len(payload) / bound, 4))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--plot", default=str(ROOT / "bench" / "sizes.png"))
    ap.add_argument("--format", choices=("1.0", "1.1"), default="1.1",
                    help="file format version to write (1.1: derived constants, docs/FORMAT.md)")
    args = ap.parse_args()
    from motes.compiler.converter import ConvertOptions
    options = ConvertOptions(compact=args.format == "1.1")
    rows = [measure(SHARED / f"{name}.tflite", options) for name in TARGETS]
    sparse = sparse_case()
    if args.json:
        print(json.dumps(dict(models=rows, sparse=sparse), indent=1))
    else:
        print(f"{'model':<28} {'.tflite':>8} {'.mote':>8} {'ratio':>7} {'target':>6}  "
              f"{'weights':>8} {'H0+tab':>8} {'pk/bnd':>6} {'params':>14} {'conv s':>6}")
        for r in rows:
            ok = "ok" if r["ratio"] <= r["target"] else "OVER"
            print(f"{r['model']:<28} {r['tflite_bytes']:>8,} {r['mote_bytes']:>8,} {r['ratio']:>7.4f} "
                  f"{r['target']:>4.2f}{ok:>3} {r['weights_packed']:>8,} "
                  f"{r['entropy_bound'] + r['table_bytes']:>8,} {r['packed_over_bound']:>6.3f} "
                  f"{r['params_raw']:>6,}->{r['params_packed']:<6,} {r['convert_seconds']:>6.2f}")
        print(f"{sparse['model']}: {sparse['weights']:,} weights -> {sparse['weights_packed']:,} B with "
              f"{sparse['codec']} ({8 * sparse['weights_packed'] / sparse['weights']:.3f} bits/weight), "
              f"packed / (entropy bound + tables) = {sparse['packed_over_bound']:.3f}")
    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(no matplotlib: plot skipped; pip install matplotlib)", file=sys.stderr)
            return 0
        fig, ax = plt.subplots(figsize=(7, 3.5))
        names = [r["model"].replace("_quantized", "").replace("_ref_model", "") for r in rows]
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r["ratio"] for r in rows], 0.4, label=".mote / .tflite")
        ax.bar(x + 0.2, [r["target"] for r in rows], 0.4, label="target", alpha=0.5)
        ax.set_xticks(x, names, fontsize=8)
        ax.set_ylabel("size ratio")
        ax.legend()
        ax.set_title("motes: file size relative to the int8 .tflite")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
