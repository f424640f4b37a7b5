"""Make a trained Keras model small: `motes compress` (docs/COMPRESS.md).

Stages, each optional, each followed by fine-tuning on the training data, in
this order when combined:

- structured pruning: whole filters and units with the smallest L1 norms
  removed and a smaller model rebuilt (cuts MACs and the arena too), then
  fine-tuned by matching the unpruned model's function (below);
- distil (Hinton et al. 2015): the input model teaches a student (its own
  architecture with `width` times the filters and units, or a model you pass)
  by "function matching" (Beyer et al. 2022): the teacher's outputs on the
  same mixed-up inputs, a long cosine schedule;
- prune (Zhu & Gupta 2017): unstructured magnitude pruning of every Dense /
  Conv2D / DepthwiseConv2D kernel to a target sparsity, on a polynomial
  schedule over the fine-tuning steps; the masks hold through fine-tuning and
  the zeros reach the .mote's zero-run codec;
- cluster (Han et al. 2016, weight sharing): at most K shared values per
  kernel, k-means in 1-D, the shared values fine-tuned (each batch's update
  moves every weight, then each weight goes back to its cluster's mean); the
  model is then quantized per tensor, so each int8 kernel holds at most K
  distinct values and Huffman coding takes it to about log2 K bits a weight.

- quantization-aware training: fine-tuning through int8 rounding of weights
  (per channel) and activations (moving min/max), straight-through
  gradients; the weights then go back into the model for the usual
  conversion.

After every stage one row: .mote bytes, bits per weight, MACs, peak RAM
(resident and streaming, as `motes inspect` computes it), float accuracy
(Keras) and int8 accuracy as the board computes it (the bit-exact executor),
on the validation data. Written for Keras 3 with masks and weight projection
of its own: tensorflow-model-optimization needs tf-keras (Keras 2) and
switches a whole process to it (docs/COMPRESS.md says more).

This module is the driver (`compress`), the rows (`Stage`, `_measure`) and their
table and plot; each technique has a module of its own beside it: `prune.py`
(magnitude and structured), `cluster.py`, `qat.py`, `distil.py`, with the Keras
helpers they share in `_keras.py`.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..compiler.graph import ModelError
# Each technique has its module; the names stay importable from here (tests,
# bench/ and the CLI use them as `compress.<name>`).
from ._keras import (KERNEL_LAYERS, _compile, _ends_in_softmax, _fit, _keras, _kernels,  # noqa: F401
                     _task, float_accuracy)
from .cluster import _Clusterer, _cluster_tensor  # noqa: F401
from .distil import FUNCTION_MATCHING, _logits, _widened, distil, train_like  # noqa: F401
from .prune import _CHAIN_LAYERS, _Pruner, structured  # noqa: F401
from .qat import _qat_classes, qat  # noqa: F401


@dataclass
class Stage:
    name: str
    bytes: int
    bits_per_weight: float
    macs: int
    peak_ram_resident: int
    peak_ram_streaming: int
    accuracy_float: float
    accuracy_int8: float
    sparsity: float = 0.0
    distinct_max: int = 0          # most distinct int8 values in one weight tensor
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "bytes", "bits_per_weight", "macs", "peak_ram_resident",
                                           "peak_ram_streaming", "accuracy_float", "accuracy_int8",
                                           "sparsity", "distinct_max")}
        d.update(self.extra)
        return d


@dataclass
class Result:
    stages: list[Stage]
    model: object                  # the last Keras model
    mote: bytes                    # its .mote
    tflite: bytes



# ---- measuring a stage -----------------------------------------------------------

def _measure(name, model, x_cal, xv, yv, task, per_channel, meta=None, title="model") -> tuple[Stage, bytes, bytes]:
    from .. import api
    from ..run import report
    from .evaluate import _class_ids
    from ..mote import from_bytes
    from ..run.executor import Executor
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{title}.keras"         # (the .mote's model name)
        model.save(path)
        cal = Path(tmp) / "calib.npy"
        np.save(cal, x_cal[:300].astype(np.float32))
        conv = api.convert(path, calibration=cal, per_channel=per_channel, meta=meta)
    mote = conv.data
    m = from_bytes(mote)
    info = report.summary(m, len(mote), len(conv.tflite))
    t_in, t_out = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    ex = Executor(m)
    xq = api.quantize_input(xv.astype(np.float32), t_in.scale, t_in.zero_point)
    outs = np.stack([ex.run([q.reshape(t_in.shape)])[0].ravel() for q in xq])
    if task == "regress":
        f = api.dequantize(outs, t_out.scale, t_out.zero_point).ravel()
        acc8 = float(np.mean(np.abs(f - np.asarray(yv, np.float64).ravel())))
    else:
        labels = (meta or {}).get("labels")
        acc8 = float(np.mean(outs.argmax(axis=1) == _class_ids(np.asarray(yv), outs.shape[1], labels, "val")))
    accf = float_accuracy(model, xv, yv, task)
    weights = [layer.consts["weights"] for layer in m.layers if "weights" in layer.consts]
    total = sum(w.size for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    distinct = max((len(np.unique(w)) for w in weights), default=0)
    packed = info["weights_packed_bytes"]
    st = Stage(name=name, bytes=len(mote), bits_per_weight=round(8 * packed / total, 3) if total else 0.0,
               macs=int(info["macs"]), peak_ram_resident=int(info["peak_ram_resident"]),
               peak_ram_streaming=int(info["peak_ram_streaming"]), accuracy_float=accf, accuracy_int8=acc8,
               sparsity=round(zeros / total, 4) if total else 0.0, distinct_max=int(distinct))
    return st, mote, conv.tflite


# ---- the pipeline -------------------------------------------------------------------

def _load(model, student, prune, cluster, structured_fraction, distil_width):
    """compress()'s model and student, each a Keras model or a .keras path, loaded, and the
    stage settings checked: a ModelError naming the option for each bad one."""
    keras = _keras()
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.exists():
            raise ModelError(f"{p} not found")
        model = keras.models.load_model(p, compile=False)
    if prune is not None and not 0 < prune < 1:
        raise ModelError(f"--prune {prune}: give the fraction of weights to zero, between 0 and 1 (e.g. 0.8)")
    if cluster is not None and not 2 <= cluster <= 256:
        raise ModelError(f"--cluster {cluster}: give the number of shared values per kernel, 2 to 256")
    if structured_fraction is not None and not 0 < structured_fraction < 1:
        raise ModelError(f"--structured {structured_fraction}: give the fraction of filters and units to "
                         "remove, between 0 and 1 (e.g. 0.5)")
    if isinstance(student, (str, Path)):
        if not Path(student).exists():
            raise ModelError(f"--student {student}: not found")
        student = keras.models.load_model(student, compile=False)
    if student is not None and [tuple(t.shape[1:]) for t in (student.inputs[0], student.outputs[0])] != [
            tuple(t.shape[1:]) for t in (model.inputs[0], model.outputs[0])]:
        raise ModelError(f"--student: takes {tuple(student.inputs[0].shape[1:])} and gives "
                         f"{tuple(student.outputs[0].shape[1:])}; the model takes "
                         f"{tuple(model.inputs[0].shape[1:])} and gives {tuple(model.outputs[0].shape[1:])}")
    if distil_width is not None and not 0 < distil_width <= 1:
        raise ModelError(f"--student-width {distil_width}: give a fraction of the teacher's width, e.g. 0.5")
    return model, student


def _data(model, x, y, x_val, y_val, seed):
    """x shaped as the model takes it (a ModelError if its samples do not fit); without
    x_val, a seeded fifth of x, y held out for measuring the stages."""
    x = np.asarray(x, dtype=np.float32)
    n_in = int(np.prod(model.inputs[0].shape[1:]))
    if x[0].size != n_in:
        raise ModelError(f"--data: each sample has {x[0].size} values; the model takes {n_in} "
                         f"(input shape {tuple(model.inputs[0].shape[1:])})")
    x = x.reshape((len(x),) + tuple(model.inputs[0].shape[1:]))
    y = np.asarray(y)
    if x_val is None:
        idx = np.random.default_rng(seed).permutation(len(x))
        cut = len(x) // 5
        x_val, y_val, x, y = x[idx[:cut]], y[idx[:cut]], x[idx[cut:]], y[idx[cut:]]
    else:
        x_val = np.asarray(x_val, dtype=np.float32).reshape((len(x_val),) + x.shape[1:])
    return x, y, x_val, y_val


def compress(model, x, y, x_val=None, y_val=None, prune: float | None = None, cluster: int | None = None,
             distil_width: float | None = None, student=None, structured_fraction: float | None = None,
             quantize_aware: bool = False, epochs: int = 8, lr: float = 1e-3,
             batch: int = 32, seed: int = 0, meta: dict | None = None, progress=None,
             keep_stages: bool = False) -> Result:
    """Run the chosen stages on a Keras model (or a .keras path); returns every stage's row,
    the last model and its .mote. x, y: training data; x_val, y_val: what the rows are
    measured on (default: a seeded fifth of x, y held out). meta: what `motes convert
    --meta/--labels` puts in the .mote (labels, preprocessing); keep_stages: the stage table
    goes into its meta too (with_stages)."""
    keras = _keras()
    title = Path(model).stem if isinstance(model, (str, Path)) else "model"
    model, student = _load(model, student, prune, cluster, structured_fraction, distil_width)
    x, y, x_val, y_val = _data(model, x, y, x_val, y_val, seed)
    task = _task(model, y)
    stages: list[Stage] = []
    n_steps = 1 + sum(v is not None for v in (prune, cluster, distil_width, structured_fraction)) + (
        student is not None and distil_width is None) + bool(quantize_aware)

    def say(msg):
        if progress:
            progress(msg)

    def measure(name, m, per_channel=True):
        say(f"stage {len(stages) + 1} of {n_steps}: {name}: converting to int8 and measuring")
        st, mote, tfl = _measure(name, m, x, x_val, y_val, task, per_channel, meta, title)
        stages.append(st)
        return mote, tfl

    mote, tfl = measure("baseline", model)
    keras.utils.set_random_seed(seed)       # the models built below (their dropout seeds) follow --seed
    if distil_width is not None or student is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: distillation")
        # function matching, 12 x epochs (docs/COMPRESS.md: it helps most where the teacher
        # is well ahead of what the student learns alone)
        model = distil(model, x, y, student=student, width=distil_width or 0.5, epochs=12 * epochs,
                       **FUNCTION_MATCHING, progress=progress, seed=seed)
        mote, tfl = measure("distil", model)
    if structured_fraction is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: removing {structured_fraction:.0%} of the filters and units")
        # fine-tuned by the model it came from: its function matched on mixed-up inputs, a long
        # schedule from 3 x the learning rate (the rebuilt model is far from a minimum; 16 x
        # epochs: 4 x, labels mixed in or lr itself came out lower, lr itself also on 11 digits
        # splits the choice never saw; docs/COMPRESS.md)
        model = distil(model, x, y, student=structured(model, structured_fraction), epochs=16 * epochs,
                       lr=3 * lr, batch=batch, **FUNCTION_MATCHING, progress=progress, seed=seed,
                       label="structured")
        mote, tfl = measure("structured", model)
    if prune is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: pruning to {prune:.0%}")
        steps = epochs * int(np.ceil(len(x) / batch))
        pr = _Pruner(model, prune, steps)
        _fit(model, x, y, task, epochs, lr, batch, [pr], progress, "prune", seed)
        mote, tfl = measure("prune", model)
    if quantize_aware:
        if cluster is not None:
            raise ModelError("--qat and --cluster: clustering quantizes per tensor to keep K values; "
                             "use one of them")
        say(f"stage {len(stages) + 1} of {n_steps}: quantization-aware training")
        hooks = [_Pruner(model, prune, 1)] if prune is not None else []
        model = qat(model, x, y, task, epochs=epochs, lr=lr / 4, batch=batch, progress=progress, seed=seed)
        for h in hooks:                 # pruned weights stay zero
            h.apply(final=True)
        mote, tfl = measure("qat", model)
    if cluster is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: clustering to {cluster} shared values per kernel")
        cl = _Clusterer(model, cluster)
        _fit(model, x, y, task, max(2, epochs // 2), lr / 2, batch, [cl], progress, "cluster", seed)
        # per-tensor int8: K shared floats are at most K int8 values per tensor
        mote, tfl = measure("cluster", model, per_channel=False)
    return Result(stages, model, with_stages(mote, stages) if keep_stages else mote, tfl)


STAGE_COLUMNS = ("name", "bytes", "bits_per_weight", "macs", "peak_ram_resident", "peak_ram_streaming",
                 "sparsity", "accuracy_float", "accuracy_int8")


def with_stages(mote: bytes, stages: list[Stage]) -> bytes:
    """The .mote with the stage table in its meta (`compress`: columns and rows), for
    `motes report`. About 50 bytes a stage, in the file and in the board's RAM (the
    runtime reads the meta whole), so only when asked (--keep-stages)."""
    from ..mote import from_bytes, to_bytes
    m = from_bytes(mote)
    rows = [[round(v, 5) if isinstance(v, float) else v for v in (s.row()[k] for k in STAGE_COLUMNS)]
            for s in stages]
    m.meta = dict(m.meta, compress={"cols": list(STAGE_COLUMNS), "rows": rows})
    return to_bytes(m)


def format_table(stages: list[Stage], task: str = "classify") -> str:
    acc = "MAE" if task == "regress" else "accuracy"
    lines = [f"{'stage':<10} {'bytes':>8} {'bits/w':>7} {'MACs':>10} {'RAM res.':>9} {'RAM str.':>9} "
             f"{'sparsity':>9} {'max K':>6} {acc + ' float':>15} {acc + ' int8':>14}"]
    for s in stages:
        fa = f"{100 * s.accuracy_float:.2f} %" if task != "regress" else f"{s.accuracy_float:.4f}"
        ia = f"{100 * s.accuracy_int8:.2f} %" if task != "regress" else f"{s.accuracy_int8:.4f}"
        lines.append(f"{s.name:<10} {s.bytes:>8,} {s.bits_per_weight:>7.2f} {s.macs:>10,} "
                     f"{s.peak_ram_resident:>9,} {s.peak_ram_streaming:>9,} {100 * s.sparsity:>8.1f}% "
                     f"{s.distinct_max:>6} {fa:>15} {ia:>14}")
    return "\n".join(lines)


def plot(stages: list[Stage], out: Path, task: str = "classify") -> None:
    """Accuracy against size and against MACs, each stage labelled, the Pareto front marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    acc = [100 * s.accuracy_int8 if task != "regress" else s.accuracy_int8 for s in stages]
    better = (lambda a, b: a >= b) if task != "regress" else (lambda a, b: a <= b)
    for ax, key, label in ((axes[0], "bytes", ".mote bytes"), (axes[1], "macs", "MACs")):
        xs = [getattr(s, key) for s in stages]
        front = [i for i in range(len(stages)) if not any(
            (xs[j] <= xs[i] and better(acc[j], acc[i]) and (xs[j] < xs[i] or acc[j] != acc[i]))
            for j in range(len(stages)))]
        ax.scatter(xs, acc, color="#4a7fb0")
        pf = sorted(front, key=lambda i: xs[i])
        ax.plot([xs[i] for i in pf], [acc[i] for i in pf], color="#c0392b", lw=1, label="Pareto front")
        for i, s in enumerate(stages):       # (alternate offsets: stages often share a MACs count)
            ax.annotate(s.name, (xs[i], acc[i]), textcoords="offset points", xytext=(4, 4 - 12 * (i % 2)),
                        fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("int8 accuracy (%)" if task != "regress" else "int8 MAE")
        ax.ticklabel_format(axis="x", style="plain")
        ax.legend(fontsize=8)
    fig.suptitle("motes compress: each stage, int8 as the board computes it")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
