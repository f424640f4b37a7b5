"""Instructions per MAC of the C kernels on an emulated Cortex-M0+ (RP2040), beside a naive baseline.

    .venv/bin/python bench/m0_kernels.py [--json] [--no-plot] [--quick]

Runs ulab_kernels/kernels.c (and huffman.c) built for -mcpu=cortex-m0plus in
the unicorn emulator (host/motes/m0/, through emu.py), and bench/naive_kernels.c (plain
TFLM-style loops, same signatures) the same way:

* single layers: fully connected 256 -> 64, conv 3x3 on 16x16x16 -> 16
  channels, depthwise 3x3 on 16x16x32 (SAME padding, stride 1, per-channel),
  and the shapes of the shared models' layers that were far above their op's
  best (issue 17: a 1-channel stem with a multiplier of 8 written as a conv,
  FULLY_CONNECTED 4000 -> 4, a shallow 1x1 conv, depthwise over 6x6 and 3x3
  outputs, global average pools), each against SLOW_FACTOR (2) times its
  op's best case on comparable sizes (motes.m0.bench.REFERENCE_LAYERS and the
  rows here whose MACs per output value are within SIZE_FACTOR, 2, of its own);
* whole models, layer by layer (motes.m0.bench): person_detect,
  mlperf_tiny_kws and micro_speech from ../shared/models, instructions per
  inference (layers with a C kernel) and per MAC;
* Huffman decoding (codec 1) of the real Huffman-coded weights of those models:
  instructions per weight, table building separate.

The motes kernels are measured twice: at -O2 for -mcpu=cortex-m0plus (the
build the targets are set for) and with the armv6m native module's own flags
(-mcpu=cortex-m0 -Os -fpic ..., m0emu.NATMOD_CFLAGS), the code a board runs
unless ulab_kernels/Makefile is given OPT=-O2. The inner loops (dot8_4,
eight output channels of an interleaved group per pass over the input,
offset-binary weights by LDRB immediate offsets; the depthwise 3x3 plane's
lines and its gather, the im2col word copy, the Huffman decode loop) are hand-written
Thumb-1 and the same in both builds; only the C around them differs (the
two hot C helpers, sum_s8 and rows_s8, carry optimize("O2") in both). FC and
conv layers are interleaved as `motes convert` writes them (format 1.2:
m0emu.synthetic_layer's default; the whole models are converted the same way).

Every emulated output is compared with the host numpy reference. Prints a
table and saves bench/m0_kernels.png.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "host"))

from motes import api, ops  # noqa: E402
from motes.m0 import bench as bench_m0, emu as m0emu  # noqa: E402
from motes import format as mote_format  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
NAIVE = HERE / "naive_kernels.c"

LAYERS = [   # label, op, input shape, synthetic_layer options, target instructions/MAC
    ("fully connected 256->64", "FULLY_CONNECTED", (1, 256), dict(out_ch=64), 3.5),
    ("conv 3x3 16x16x16->16", "CONV_2D", (1, 16, 16, 16), dict(out_ch=16), 4.0),
    ("depthwise 3x3 16x16x32", "DEPTHWISE_CONV_2D", (1, 16, 16, 32), dict(), 8.0),
    # the shapes of the shared models' layers that were far above their op's
    # best (issue 17); target None: within bench_m0.SLOW_FACTOR x the op's best
    # case (bench_m0.REFERENCE_LAYERS or the cheapest row of that op here, as
    # `motes bench` takes a model's cheapest layer)
    ("1ch stem 10x8 s2 x8 as conv", "CONV_2D", (1, 49, 40, 1),
     dict(out_ch=8, kernel=(10, 8), stride=(2, 2)), None),
    ("fully connected 4000->4", "FULLY_CONNECTED", (1, 4000), dict(out_ch=4), None),
    ("fully connected 64->12", "FULLY_CONNECTED", (1, 64), dict(out_ch=12), None),
    ("conv 1x1 1x1x256->2", "CONV_2D", (1, 1, 1, 256), dict(out_ch=2, kernel=(1, 1)), None),
    ("conv 1x1 24x24x8->16", "CONV_2D", (1, 24, 24, 8), dict(out_ch=16, kernel=(1, 1)), None),
    ("depthwise 3x3 s2 1ch x8 48x48", "DEPTHWISE_CONV_2D", (1, 48, 48, 1),
     dict(depth_multiplier=8, stride=(2, 2)), None),
    ("depthwise 3x3 6x6x128", "DEPTHWISE_CONV_2D", (1, 6, 6, 128), dict(), None),
    ("depthwise 3x3 s2 6x6x128", "DEPTHWISE_CONV_2D", (1, 6, 6, 128), dict(stride=(2, 2)), None),
    ("depthwise 3x3 3x3x256", "DEPTHWISE_CONV_2D", (1, 3, 3, 256), dict(), None),
    ("average pool global 3x3x256", "AVERAGE_POOL_2D", (1, 3, 3, 256), dict(kernel=(3, 3), padding="VALID"), None),
    ("average pool global 25x5x64", "AVERAGE_POOL_2D", (1, 25, 5, 64), dict(kernel=(25, 5), padding="VALID"), None),
]
MODELS = ["person_detect", "mlperf_tiny_kws_ref_model", "micro_speech_quantized"]
HUFFMAN_TARGET = 12.0


def layer_rows(emu, have_motes: bool, emu_os=None) -> list[dict]:
    rows = []
    rng = np.random.default_rng(2024)
    best = bench_m0.reference_costs(emu) if have_motes else {}
    for label, op, shape, kw, target in LAYERS:
        layer, x, out_shape = m0emu.synthetic_layer(op, shape, rng, **kw)
        ref = m0emu.reference(layer, [x], [out_shape])[0]
        macs = ops.layer_macs(layer, [x.shape], [out_shape])
        row = dict(case=label, op=op, macs=macs, target=target, slow_limit=target is None,
                   per_output=bench_m0.per_output(macs, int(np.prod(out_shape))))
        for name, prefix, e in (("motes", "mk_", emu), ("naive", "naive_", emu), ("motes_os", "mk_", emu_os)):
            if name.startswith("motes") and not have_motes or e is None or not m0emu.has_kernel(e, op, prefix):
                row[name] = None
                continue
            r = m0emu.run_layer(e, layer, [x], [out_shape], prefix=prefix)
            row[name] = dict(instructions=r.instructions, per_mac=r.instructions / macs,
                             exact=bool(np.array_equal(r.outputs[0], ref)))
        rows.append(row)
    for row in rows:
        if row["slow_limit"] and row["op"] in best:
            # the op's cheapest case on comparable sizes (bench_m0.comparable: MACs per output)
            _, v, n = best[row["op"]]
            cases = [(v, n)] + [(r["motes"]["per_mac"], r["per_output"]) for r in rows
                                if r["op"] == row["op"] and r["motes"]]
            cheapest = min(c for c, m in cases if bench_m0.comparable(row["per_output"], m))
            row["target"] = bench_m0.SLOW_FACTOR * cheapest
    return rows


def model_rows(emu, have_motes: bool, names, emu_os=None) -> tuple[list[dict], dict]:
    rows, packed = [], {}
    for name in names:
        path = SHARED / f"{name}.tflite"
        if not path.exists():
            print(f"(skipping {name}: {path} missing)", file=sys.stderr)
            continue
        data = api.convert(path).data
        packed[name] = mote_format.from_bytes(data, name, decode=False)
        row = dict(case=name)
        for kind, prefix, e in (("motes", "mk_", emu), ("naive", "naive_", emu), ("motes_os", "mk_", emu_os)):
            if kind.startswith("motes") and not have_motes or e is None:
                row[kind] = None
                continue
            t = time.time()
            res = bench_m0.bench(data, emu=e, prefix=prefix)
            row["macs"] = res["macs"]
            row[kind] = dict(instructions=res["instructions"], per_mac=res["instructions_per_mac"],
                             macs_emulated=res["macs_emulated"], exact=res["exact"],
                             host_ops=res["host_ops"], seconds=round(time.time() - t, 1))
        rows.append(row)
    return rows, packed


def huffman_rows(emu, models: dict) -> list[dict]:
    rows = []
    for name, model in models.items():
        count = table = decode = chunked = arrays = 0
        exact = True
        for i, layer_packed in enumerate(model.packed):
            for cname, pc in layer_packed.items():
                if pc.codec != 1:
                    continue
                want = pc.decode().reshape(-1)
                r = m0emu.huffman_decode(emu, pc.payload, pc.count)
                r2 = m0emu.huffman_decode(emu, pc.payload, pc.count, chunk=256)
                exact &= bool(np.array_equal(r.values.view(np.int8), want)
                              and np.array_equal(r2.values.view(np.int8), want))
                count += pc.count
                table += r.table_instructions
                decode += r.decode_instructions
                chunked += r2.decode_instructions
                arrays += 1
        if count:
            rows.append(dict(case=name, arrays=arrays, weights=count, table_instructions=table,
                             per_weight=decode / count, per_weight_256B_chunks=chunked / count,
                             per_weight_with_tables=(decode + table) / count,
                             target=HUFFMAN_TARGET, exact=exact))
    return rows


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def print_report(res: dict) -> None:
    img = res["image"]
    print(f"Emulated Cortex-M0 (unicorn), code: arm-none-eabi-gcc -mcpu=cortex-m0plus -O2; "
          f"kernels: {', '.join(img['sources'])}")
    if img["libgcc_helpers"]:
        print(f"  motes kernels call libgcc helpers: {', '.join(img['libgcc_helpers'])} "
              "(a natmod cannot link libgcc)")
    print()
    print("instructions per MAC: motes = kernels.c at -O2 -mcpu=cortex-m0plus (the target build); "
          "-Os = the same with the armv6m natmod flags (-Os -fpic, cortex-m0); naive = bench/naive_kernels.c at -O2")
    print("(target: the layer's own, or for the real models' shapes below the first three "
          f"{bench_m0.SLOW_FACTOR:g}x the best case of their op with MACs per output within "
          f"{bench_m0.SIZE_FACTOR:g}x)")
    print(f"{'layer':<46}{'MACs':>9}  {'motes':>7}  {'-Os':>7}  {'naive':>7}  {'target':>6}  verdict")
    for r in res["layers"]:
        m, n, mo = r["motes"], r["naive"], r["motes_os"]
        word = f"{bench_m0.SLOW_FACTOR:g}x best" if r.get("slow_limit") else "target"
        ok = "no kernel" if m is None or r["target"] is None else \
            (f"within {word}" if m["per_mac"] <= r["target"] else f"ABOVE {word}")
        if (m and not m["exact"]) or (n and not n["exact"]):
            ok += ", NOT EXACT"
        if mo and not mo["exact"]:
            ok += ", -Os NOT EXACT"
        print(f"{r['case']:<46}{r['macs']:>9,}  {fmt(m and m['per_mac']):>7}  {fmt(mo and mo['per_mac']):>7}  "
              f"{fmt(n and n['per_mac']):>7}  {fmt(r['target'], '.1f'):>6}  {ok}")
    print()
    print(f"{'model':<28}{'MACs':>11}  {'motes instr/inference':>21} {'per MAC':>8} {'-Os per MAC':>11}  "
          f"{'naive instr/inference':>21} {'per MAC':>8}  exact")
    for r in res["models"]:
        m, n, mo = r["motes"], r["naive"], r["motes_os"]
        ex = all(x["exact"] for x in (m, n, mo) if x)
        print(f"{r['case']:<28}{r['macs']:>11,}  {fmt(m and m['instructions'], ','):>21} "
              f"{fmt(m and m['per_mac']):>8} {fmt(mo and mo['per_mac']):>11}  {n['instructions']:>21,} "
              f"{fmt(n['per_mac']):>8}  {ex}")
        for kind, x in (("motes", m), ("naive", n)):
            if x and x["host_ops"]:
                print(f"{'':<28}  ({kind}: no C kernel, Python on a board, not counted: {', '.join(x['host_ops'])})")
    if res["huffman"]:
        print()
        print(f"{'Huffman decode (codec 1)':<36}{'weights':>10}  {'instr/weight':>12}  {'256 B chunks':>12}  "
              f"{'+ tables':>9}  {'target':>6}  verdict")
        for r in res["huffman"]:
            ok = "meets target" if r["per_weight"] <= r["target"] else "ABOVE target"
            if not r["exact"]:
                ok += ", NOT EXACT"
            print(f"{r['case'] + ' weights':<36}{r['weights']:>10,}  {r['per_weight']:>12.2f}  "
                  f"{r['per_weight_256B_chunks']:>12.2f}  {r['per_weight_with_tables']:>9.2f}  "
                  f"{r['target']:>6.1f}  {ok}")
    elif not res["have_huffman"]:
        print("\n(huffman.c not present: no decode benchmark)")


def plot(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [("\n".join(r["case"].rsplit(" ", 1)), r["motes"] and r["motes"]["per_mac"],
             r["naive"] and r["naive"]["per_mac"], r["target"]) for r in res["layers"]]
    rows += [(r["case"].replace("_ref_model", "") + "\n(whole model)", r["motes"] and r["motes"]["per_mac"],
              r["naive"]["per_mac"], None) for r in res["models"]]
    rows += [(r["case"].replace("_ref_model", "") + "\nHuffman / weight", r["per_weight"], None, r["target"])
             for r in res["huffman"]]
    fig, ax = plt.subplots(figsize=(max(8, 1.5 * len(rows)), 5))
    xs = np.arange(len(rows))
    wbar = 0.38
    mot = [r[1] or 0 for r in rows]
    nai = [r[2] or 0 for r in rows]
    b1 = ax.bar(xs - wbar / 2, mot, wbar, label="motes kernels.c", color="#2a7ab9")
    b2 = ax.bar(xs + wbar / 2, nai, wbar, label="naive TFLM-style C", color="#c8c8c8")
    for bars in (b1, b2):
        for b in bars:
            if b.get_height():
                ax.annotate(f"{b.get_height():.1f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=8)
    for x, r in zip(xs, rows):
        if r[3]:
            ax.hlines(r[3], x - 0.45, x + 0.45, colors="#d62728", linestyles="--")
    ax.plot([], [], "--", color="#d62728", label="target")
    ax.set_xticks(xs, [r[0] for r in rows], fontsize=8)
    ax.set_ylabel("instructions per MAC (Huffman: per weight)")
    ax.set_title("int8 kernels on an emulated Cortex-M0+ (RP2040), arm-none-eabi-gcc -O2")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quick", action="store_true", help="skip person_detect")
    ap.add_argument("--no-os", action="store_true", help="skip the -Os (natmod flags) build")
    args = ap.parse_args(argv)
    why = m0emu.unavailable()
    if why:
        print(f"m0_kernels: {why}", file=sys.stderr)
        return 2
    have_motes = (m0emu.kernel_dir() / "kernels.c").exists()
    sources = (m0emu.default_sources() if have_motes else []) + [NAIVE]
    image = m0emu.build(sources)
    emu = m0emu.M0(image)
    emu_os = (m0emu.M0(m0emu.build(m0emu.default_sources(), cpu=m0emu.NATMOD_CPU,
                                   extra_cflags=m0emu.NATMOD_CFLAGS))
              if have_motes and not args.no_os else None)
    have_huff = emu.has("mk_huff_decode")
    res = dict(image=dict(sources=[Path(s).name for s in image.sources],
                          libgcc_helpers=sorted({s for k, v in image.undefined.items()
                                                 if k != NAIVE.name for s in v if s.startswith("__")}),
                          not_armv6m=image.not_armv6m),
               have_motes=have_motes, have_huffman=have_huff)
    res["layers"] = layer_rows(emu, have_motes, emu_os)
    res["models"], packed = model_rows(emu, have_motes, MODELS[1:] if args.quick else MODELS, emu_os)
    res["huffman"] = huffman_rows(emu, packed) if have_huff else []
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print_report(res)
    if not args.no_plot:
        plot(res, HERE / "m0_kernels.png")
        if not args.json:
            print(f"\nsaved {HERE / 'm0_kernels.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
