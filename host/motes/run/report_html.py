"""`motes report MODEL.mote -o report.html`: one page to look at, on a PC or a phone.

Self-contained: plain CSS, inline SVG, no script, nothing fetched. The figures
are the ones the text tools print, from the same functions:
- layers, shapes, MACs, bytes per layer (raw, packed, entropy bound, codec),
  RAM: report.summary / layer_rows (`motes inspect`);
- the activation arena: the planner's offsets in the .mote, each tensor live
  from the layer that writes it to the last that reads it; per layer the live
  activation bytes plus, resident, every layer's decoded constants, streaming,
  that layer's (report.streaming_bytes), the peak of each marked;
- Cortex-M0 instructions per layer: bench_m0.bench (`motes bench --isa
  armv6m`), where arm-none-eabi-gcc and unicorn are installed; time at
  133 MHz taken as one instruction a cycle (an estimate: loads, branches and
  multiplies take more on some M0 builds);
- accuracy and confusion matrix with --data: evaluate.evaluate (`motes
  evaluate`);
- compression stages: the table `motes compress --keep-stages` (and `motes
  train --prune/--qat`) stores in the .mote's meta, or the saved output of
  `motes compress --json` (--stages).
Every text taken from the file (names, labels, meta) is escaped.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from . import report
from ..compiler.graph import ModelError

CLOCK_HZ = 133_000_000

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;color:#1d2329;background:#f6f7f9}
main{max-width:980px;margin:0 auto}
h1{font-size:1.35em;margin:.2em 0}
h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #d5dae0;padding-bottom:.2em}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{background:#fff;border:1px solid #d5dae0;border-radius:6px;padding:6px 10px;min-width:120px}
.card b{display:block;font-size:1.15em}
.card span{color:#5b6670;font-size:.85em}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;background:#fff;border:1px solid #d5dae0;border-radius:6px}
table{border-collapse:collapse;font-size:.88em;white-space:nowrap;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eceff2;text-align:right}
th{background:#eef1f4;position:sticky;top:0}
td.l,th.l{text-align:left}
tr.peak td{background:#fdecea}
svg{width:100%;height:auto;background:#fff;border:1px solid #d5dae0;border-radius:6px}
svg text{font:11px system-ui,sans-serif;fill:#1d2329}
.note{color:#5b6670;font-size:.85em}
.legend span{display:inline-block;margin-right:12px;font-size:.85em}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #d5dae0;padding:8px;font-size:.8em}
"""

_COLORS = ["#4a7fb0", "#e08a3c", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948", "#9c755f"]


def e(s) -> str:
    return html.escape(str(s), quote=True)


def _shape(shapes) -> str:
    return ", ".join("x".join(str(d) for d in s) for s in shapes)


def arena_rows(model) -> dict:
    """Per layer: the activation tensors live (placed by the planner) and their bytes."""
    n = len(model.layers)
    span: dict[int, list[int]] = {}

    def touch(t, step):
        lo, hi = span.get(t, (step, step))
        span[t] = [min(lo, step), max(hi, step)]
    for t in model.inputs:
        touch(t, 0)
    for i, layer in enumerate(model.layers):
        for t in list(layer.inputs) + list(layer.outputs):
            touch(t, i)
    for t in model.outputs:
        touch(t, n - 1)
    tensors = []
    for t, (lo, hi) in sorted(span.items()):
        info = model.tensors[t]
        tensors.append({"id": t, "offset": int(info.offset), "bytes": int(info.nbytes), "first": lo, "last": hi,
                        "shape": list(info.shape)})
    live = []
    for i in range(n):
        # tensors sharing memory (RESHAPE and friends alias their input) count once
        seen = {}
        for t in tensors:
            if t["first"] <= i <= t["last"]:
                seen[t["offset"]] = max(seen.get(t["offset"], 0), t["bytes"])
        live.append(sum(seen.values()))
    return {"tensors": tensors, "live": live}


def _bars(values: list[list[float]], names: list[str], series: list[str], unit: str, peak: int | None = None,
          title: str = "") -> str:
    """A grouped horizontal bar chart: a row per layer, a bar per series."""
    width, left, row_h = 480, 124, 10 + 9 * len(series)
    top = 22
    height = top + row_h * len(names) + 26
    vmax = max([max(v) for v in values if v] + [1])
    scale = (width - left - 64) / vmax
    out = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">']
    out.append(f'<text x="{left}" y="14">{e(title)}</text>')
    for i, (name, row) in enumerate(zip(names, values)):
        y0 = top + i * row_h
        if peak is not None and i == peak:
            out.append(f'<rect x="0" y="{y0}" width="{width}" height="{row_h}" fill="#fdecea"/>')
        out.append(f'<text x="{left - 6}" y="{y0 + row_h / 2 + 4}" text-anchor="end">{e(name)}</text>')
        for k, v in enumerate(row):
            w = max(0.0, v * scale)
            y = y0 + 4 + 9 * k
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="7" fill="{_COLORS[k % len(_COLORS)]}">'
                       f'<title>{e(name)}: {e(series[k])} {v:,.0f} {e(unit)}</title></rect>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + 7}" font-size="9">{v:,.0f}</text>')
        if peak is not None and i == peak:
            out.append(f'<text x="{width - 4}" y="{y0 + row_h / 2 + 4}" text-anchor="end" fill="#c0392b">peak</text>')
    out.append(f'<text x="{left}" y="{height - 8}" class="note">{e(unit)}</text>')
    out.append("</svg>")
    legend = "".join(f'<span><i style="background:{_COLORS[k % len(_COLORS)]}"></i>{e(s)}</span>'
                     for k, s in enumerate(series))
    return "".join(out) + f'<div class="legend">{legend}</div>'


def _arena_map(model, ar: dict) -> str:
    """The arena as the planner laid it out: x the layers, y the offset, a box per tensor."""
    n = max(1, len(model.layers))
    arena = max(1, model.arena_size)
    width, height, left, top = 480, 200, 50, 20
    cw, ch = (width - left - 10) / n, height - top - 30
    out = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="activation arena">',
           f'<text x="{left}" y="14">activation arena: {arena:,} bytes (offset, up) over the layers (across)</text>']
    for k, t in enumerate(ar["tensors"]):
        x = left + t["first"] * cw
        w = max(2.0, (t["last"] - t["first"] + 1) * cw - 2)
        y = top + ch - (t["offset"] + t["bytes"]) / arena * ch
        h = max(1.5, t["bytes"] / arena * ch)
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{_COLORS[k % len(_COLORS)]}" '
                   f'fill-opacity=".75" stroke="#fff"><title>tensor {t["id"]} {e("x".join(map(str, t["shape"])))}: '
                   f'{t["bytes"]:,} B at offset {t["offset"]:,}, layers {t["first"]}..{t["last"]}</title></rect>')
    for i in range(len(model.layers)):
        out.append(f'<text x="{left + (i + .5) * cw:.1f}" y="{height - 12}" text-anchor="middle" font-size="9">{i}</text>')
    out.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="9">{arena:,}</text>')
    out.append(f'<text x="{left - 4}" y="{top + ch}" text-anchor="end" font-size="9">0</text>')
    out.append("</svg>")
    return "".join(out)


def _confusion(r: dict) -> str:
    names, conf = r["labels"], r["confusion"]
    top = max([max(row) for row in conf] + [1])
    head = "".join(f"<th>{e(s)}</th>" for s in names)
    rows = []
    for name, row in zip(names, conf):
        rec = r["per_class"][name]["recall"]
        cells = "".join(f'<td style="background:rgba(74,127,176,{0.08 + 0.8 * v / top:.2f})">{v}</td>' for v in row)
        rows.append(f'<tr><th class="l">{e(name)}</th>{cells}<td>{"-" if rec is None else f"{100 * rec:.1f} %"}</td></tr>')
    return (f'<div class="scroll"><table><tr><th class="l">true \\ predicted</th>{head}<th>recall</th></tr>'
            + "".join(rows) + "</table></div>")


def m0_figures(path) -> tuple[dict | None, str | None]:
    """bench_m0's result, or why it could not run here."""
    import shutil
    if shutil.which("arm-none-eabi-gcc") is None:
        return None, "arm-none-eabi-gcc is not installed"
    try:
        from ..m0 import bench as bench_m0, emu as m0emu
        return bench_m0.bench(path), None
    except ImportError as ex:
        return None, f"{ex.name or ex} is not installed"
    except Exception as ex:              # (M0Error, M0Fault: shown, the rest of the page stands)
        return None, f"{type(ex).__name__}: {ex}"


def load_stages(path) -> list[dict]:
    """The stage rows of `motes compress --json` output saved to a file."""
    try:
        rows = json.loads(Path(path).read_text())["stages"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TypeError
        return rows
    except (OSError, ValueError, KeyError, TypeError):
        raise ModelError(f"--stages {path}: not the saved output of motes compress --json") from None


def build(model_path, data=None, label=None, tflite=None, m0: bool = True, task=None, stages=None) -> str:
    """The page. stages: rows of `motes compress --json`; by default those the .mote keeps
    in its meta (compress --keep-stages, train --prune/--qat), if any."""
    from .. import api
    model, size, src = api.load_model(model_path)
    if tflite and not Path(tflite).is_file():
        raise ModelError(f"--tflite {tflite}: not found")
    src_bytes = Path(tflite).stat().st_size if tflite else src
    info = report.summary(model, size, src_bytes)
    rows = info["layers"]
    bench, why_not = m0_figures(model_path) if m0 else (None, "not asked (--no-m0)")
    ev = None
    if data:
        from ..learn import evaluate
        ev = evaluate.evaluate(model_path, data, label=label, task=task)
    name = info["name"] or Path(model_path).stem
    names = [f"{r['index']} {r['op']}" for r in rows]
    p = []
    p.append(f"<h1>{e(name)}</h1><p class=\"note\">{e(Path(model_path).name)}: a motes model, format "
             f"{e(info['format'])}</p>")
    p.append(_cards(info, size, bench, ev))
    labels = model.meta.get("labels")
    if labels:
        p.append(f"<p>Labels: {', '.join(e(s) for s in labels)}</p>")
    p.append(_layers_section(info, bench))
    p.append(_bytes_section(rows, names))
    p.append(_ram_section(model, info, names))
    p.append(_compute_section(rows, names, bench, why_not))
    if ev:
        p.append(_accuracy_section(ev, data))
    if stages is None and isinstance(model.meta.get("compress"), dict):
        c = model.meta["compress"]
        stages = [dict(zip(c.get("cols", []), row)) for row in c.get("rows", [])]
    if stages:
        p.append(_stages_section(stages))
    meta = {k: v for k, v in model.meta.items() if k != "compress"}
    p.append("<h2>Metadata</h2><pre>" + e(json.dumps(meta, indent=1, ensure_ascii=False)) + "</pre>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(name)}: motes report</title><style>{_CSS}</style></head><body><main>"
            + "".join(p) + "<p class=\"note\">Made by motes report.</p></main></body></html>\n")


def _cards(info, size, bench, ev) -> str:
    """The headline figures, one card each."""
    cards = [(f"{size:,} B", ".mote file"), (f"{info['macs']:,}", "MACs per inference"),
             (f"{info['weights']:,}", "int8 weights"), (f"{info['arena_bytes']:,} B", "activation arena"),
             (f"{info['peak_ram_resident']:,} B", "peak RAM, resident"),
             (f"{info['peak_ram_streaming']:,} B", "peak RAM, streaming")]
    if "source_bytes" in info:
        cards.append((f"{info['source_bytes']:,} B", f".tflite (ratio {info['ratio']:.3f})"))
    if bench:
        cards.append((f"{bench['instructions']:,}", "M0 instructions"))
        cards.append((f"{1e3 * bench['instructions'] / CLOCK_HZ:.3f} ms", "at 133 MHz (estimate)"))
    if ev and ev["task"] == "classify":
        cards.append((f"{100 * ev['accuracy']:.2f} %", f"accuracy on {ev['n']:,} samples"))
    elif ev:
        cards.append((f"{ev['mae']:.4g}", f"MAE on {ev['n']:,} samples"))
    return ('<div class="cards">' + "".join(f"<div class=\"card\"><b>{e(a)}</b><span>{e(b)}</span></div>"
                                            for a, b in cards) + "</div>")


def _layers_section(info, bench) -> str:
    """The table of layers (with M0 instructions when benched) and the weight totals under it."""
    rows = info["layers"]
    p = ["<h2>Layers</h2>"]
    head = ["#", "op", "input", "output", "MACs", "raw B", "packed B", "entropy bound B", "codec", "streaming B"]
    if bench:
        head += ["M0 instructions", "µs at 133 MHz"]
    t = ['<div class="scroll"><table id="layers"><tr>' + "".join(
        f'<th class="{"l" if h in ("op", "input", "output", "codec") else ""}">{e(h)}</th>' for h in head) + "</tr>"]
    for k, r in enumerate(rows):
        cells = [r["index"], r["op"], _shape(r["inputs"]), _shape(r["outputs"]), f"{r['macs']:,}",
                 f"{r['weights_raw_bytes']:,}", f"{r['weights_packed_bytes']:,}", f"{r['entropy_bound_bytes']:,.0f}",
                 ",".join(r["codecs"]) + (" interleaved" if r["interleaved"] else ""), f"{r['streaming_bytes']:,}"]
        if bench:
            b = bench["layers"][k]
            cells += [f"{b['instructions']:,}" if b["instructions"] is not None else "host",
                      f"{1e6 * b['instructions'] / CLOCK_HZ:.1f}" if b["instructions"] is not None else "-"]
        t.append('<tr class="layer">' + "".join(
            f'<td class="{"l" if j in (1, 2, 3, 8) else ""}">{e(c)}</td>' for j, c in enumerate(cells)) + "</tr>")
    t.append("</table></div>")
    p.append("".join(t))
    w = info["weights"]
    p.append(f"<p class=\"note\">Weights: {w:,} int8, raw {info['weights_raw_bytes']:,} B → packed "
             f"{info['weights_packed_bytes']:,} B ({8 * info['weights_packed_bytes'] / w if w else 0:.2f} bits/weight; "
             f"entropy bound {info['entropy_bound_bytes']:,.0f} B + tables {info['table_bytes']:,} B). Params (bias, "
             f"multipliers, shifts): raw {info['params_raw_bytes']:,} B → packed {info['params_packed_bytes']:,} B.</p>")
    return "".join(p)


def _bytes_section(rows, names) -> str:
    return "<h2>Bytes per layer</h2>" + _bars(
        [[r["weights_raw_bytes"], r["weights_packed_bytes"], r["entropy_bound_bytes"]] for r in rows],
        names, ["raw", "packed", "entropy bound"], "bytes of weights", title="weights per layer")


def _ram_section(model, info, names) -> str:
    """Live activations and constants held per layer, resident and streaming, and the arena map."""
    rows = info["layers"]
    ar = arena_rows(model)
    decoded = sum(r["decoded_bytes"] for r in rows)
    p = ["<h2>RAM over the layers</h2>"]
    stream = [r["streaming_bytes"] for r in rows]
    pr, ps = ar["live"].index(max(ar["live"])), stream.index(max(stream))
    series = ["live activations", "constants held"]
    p.append(_bars([[live, decoded] for live in ar["live"]], names, series, "bytes", peak=pr,
                   title=f"resident: peak {info['peak_ram_resident']:,} B (arena + all constants)"))
    p.append(_bars([[live, r["streaming_bytes"]] for live, r in zip(ar["live"], rows)], names, series, "bytes",
                   peak=ps, title=f"streaming: peak {info['peak_ram_streaming']:,} B (arena + layer {ps}'s)"))
    p.append(_arena_map(model, ar))
    p.append("<p class=\"note\">Per layer: the activations alive in the arena (tensors written by it or "
             "earlier and read by it or later) and the constants held: resident mode decodes every layer's at "
             "load, streaming mode only the running layer's (weights a chunk of rows at a time, plus decoder "
             f"tables and the read buffer). The device allocates the whole arena ({info['arena_bytes']:,} B) "
             "once, so a peak is the arena plus the constants of the marked layer. Interpreter objects and code "
             "are not counted (motes run --engine micropython measures a whole runtime).</p>")
    return "".join(p)


def _compute_section(rows, names, bench, why_not) -> str:
    """MACs per layer, beside the Cortex-M0 instructions when benched, else why there are none."""
    p = ["<h2>Compute</h2>"]
    series, vals = ["MACs"], [[r["macs"]] for r in rows]
    if bench:
        series.append("M0 instructions")
        vals = [[r["macs"], b["instructions"] or 0] for r, b in zip(rows, bench["layers"])]
    p.append(_bars(vals, names, series, "per inference", title="MACs and Cortex-M0 instructions per layer"))
    if bench:
        p.append(f"<p class=\"note\">Cortex-M0 instructions from <code>motes bench --isa armv6m</code> (the C "
                 f"kernels built for cortex-m0plus, run in unicorn, {'every layer bit-exact' if bench['exact'] else 'MISMATCHES: see motes bench'}); "
                 f"{e(', '.join(bench['host_ops']) or 'no op')} ran on the host (no C kernel) and is not counted. "
                 f"Time: one instruction a cycle at 133 MHz, an estimate.</p>")
    else:
        p.append(f"<p class=\"note\">No Cortex-M0 figures: {e(why_not)}.</p>")
    return "".join(p)


def _accuracy_section(ev, data) -> str:
    p = ["<h2>Accuracy</h2>"]
    p.append(f"<p>{ev['n']:,} samples of {e(Path(data).name)}, engine {e(ev['engine'])} (the board's "
             "arithmetic).</p>")
    if ev["task"] == "classify":
        p.append(f"<p><b>accuracy {100 * ev['accuracy']:.2f} %</b></p>" + _confusion(ev))
    else:
        p.append(f"<p><b>MAE {ev['mae']:.5g}</b>, RMSE {ev['rmse']:.5g}</p>")
    return "".join(p)


def _stages_section(stages) -> str:
    """The table of `motes compress` stages."""
    keys = [("name", "stage"), ("bytes", ".mote bytes"), ("bits_per_weight", "bits/w"), ("macs", "MACs"),
            ("peak_ram_resident", "RAM res."), ("peak_ram_streaming", "RAM str."), ("sparsity", "sparsity"),
            ("accuracy_float", "float"), ("accuracy_int8", "int8")]
    t = ['<div class="scroll"><table><tr>' + "".join(f"<th>{e(h)}</th>" for _, h in keys) + "</tr>"]
    for s in stages:
        t.append("<tr>" + "".join(f"<td>{e(_fmt(k, s.get(k)))}</td>" for k, _ in keys) + "</tr>")
    t.append("</table></div>")
    return ("<h2>Compression stages</h2>" + "".join(t) + "<p class=\"note\">From <code>motes compress</code>: "
            "each stage fine-tuned, accuracy (MAE for regression) on its validation data, int8 as the board "
            "computes it; bytes without this table.</p>")


def _fmt(key, v) -> str:
    if v is None:
        return "-"
    if key in ("accuracy_float", "accuracy_int8") and isinstance(v, float):
        return f"{100 * v:.2f} %" if v <= 1 else f"{v:.4g}"
    if key == "sparsity":
        return f"{100 * v:.1f} %"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def add_arguments(s) -> None:
    s.add_argument("model", help=".mote (or int8 .tflite)")
    s.add_argument("--data", help="labelled data for accuracy and the confusion matrix (as motes evaluate takes it)")
    s.add_argument("--label", help="CSV: the label column")
    s.add_argument("--task", choices=["classify", "regress"])
    s.add_argument("--tflite", help="the original .tflite, to show the size it came from")
    s.add_argument("--stages", help="the saved output of motes compress --json, for a .mote made without "
                                    "--keep-stages")
    s.add_argument("--no-m0", action="store_true", help="skip the Cortex-M0 instruction counts (motes bench)")
    s.add_argument("-o", "--output", required=True, help="the HTML page to write")


def do_report(args) -> int:
    page = build(args.model, data=args.data, label=args.label, tflite=args.tflite, m0=not args.no_m0,
                 task=args.task, stages=load_stages(args.stages) if args.stages else None)
    out = Path(args.output)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} ({len(page.encode()):,} bytes): open it in a browser")
    return 0
