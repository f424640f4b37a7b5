"""`motes train data.csv --label COLUMN -o model.mote`: a small model from a CSV of readings.

The CSV is what `motes record` writes (or any CSV with a header): the label
column, a `timestamp` column (skipped) and the features, all numbers. Rows
become samples as they are (a small MLP: features -> 16 -> 8 -> classes), or,
with --window N, windows of N consecutive rows of one label, a new one every
--step rows (time series: a small 1-D CNN over the window, its time axis the
height of a Conv2D with 5x1 kernels as in examples/gesture; an MLP over the
flattened window when N < 8).

Normalisation is part of the model: the mean and standard deviation of each
feature over the training rows (a Keras Normalization layer while training)
go into the .mote's meta as `input_norm`, which the device runtime and the
host tools apply in float32 before the int8 quantization (Net.predict,
api.normalize). So the board gives the model raw readings. (Folding them into
the first layer's weights instead would leave one int8 scale for every input:
soil counts in the 40 000s would leave nothing of a temperature.)

Classes (numbers or names) go into the .mote as labels, in sorted order. The
split is seeded and stratified (each class keeps --val of its samples for
validation); int8 conversion is `motes convert`'s, calibrated on the training
rows, and the validation figures are `motes evaluate`'s on the .mote. With
--prune or --qat the model goes through `motes compress`'s stages (compress.py),
and their table goes into the .mote for `motes report`.
"""
from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ..compiler.graph import ModelError

MIN_PER_CLASS = 5        # samples a class needs (at least one of them for validation)
CNN_MIN_WINDOW = 8


def read_table(path: Path, label: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(x [rows, features] float32, y [rows] as evaluate.load_data reads it, feature names)."""
    from . import evaluate
    x, y = evaluate.load_data(path, label)
    with open(path, newline="") as f:
        head = [h.strip() for h in next(csv.reader(f))]
    names = [h for h in head if h != label and h not in evaluate.SKIP_COLUMNS]
    if not names:
        raise ModelError(f"{path}: no feature columns besides {label!r}")
    return x, y, names


def windows(x: np.ndarray, y: np.ndarray, n: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of n consecutive rows inside each run of one label, every `step` rows."""
    xs, ys = [], []
    start = 0
    for i in range(1, len(y) + 1):
        if i == len(y) or y[i] != y[start]:
            for s in range(start, i - n + 1, step):
                xs.append(x[s:s + n])
                ys.append(y[s])
            start = i
    if not xs:
        raise ModelError(f"--window {n}: no run of {n} consecutive rows with one label; record longer "
                         "or give a smaller window")
    return np.stack(xs), np.array(ys)


def split(y: np.ndarray, val: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): stratified by class (regression: one group), seeded."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if y.dtype.kind in "iUS" else [np.arange(len(y))]
    tr, va = [], []
    for g in groups:
        g = rng.permutation(g)
        k = max(1, int(round(val * len(g))))
        va.extend(g[:k])
        tr.extend(g[k:])
    return np.sort(np.array(tr, int)), np.sort(np.array(va, int))


def _f32(v) -> list[float]:
    """Values a float32 holds exactly, as the board parses them back."""
    return [float(np.float32(a)) for a in np.ravel(v)]


def build(keras, shape: tuple, n_out: int, task: str):
    """The model the board runs (normalised input), and the one trained (raw input -> it)."""
    inp = keras.Input(shape=shape, name="readings")
    if len(shape) == 3 and shape[0] >= CNN_MIN_WINDOW:
        h = inp
        for i, filters in enumerate((8, 16)):
            h = keras.layers.Conv2D(filters, (5, 1), padding="same", activation="relu", name=f"conv{i + 1}")(h)
            h = keras.layers.MaxPooling2D((2, 1), name=f"pool{i + 1}")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        h = keras.layers.Dense(16, activation="relu", name="dense")(h)
    else:
        h = keras.layers.Flatten(name="flatten")(inp) if len(shape) > 1 else inp
        h = keras.layers.Dense(16, activation="relu", name="hidden1")(h)
        h = keras.layers.Dense(8, activation="relu", name="hidden2")(h)
    out = keras.layers.Dense(n_out, activation="softmax" if task == "classify" else None, name="out")(h)
    return keras.Model(inp, out, name="model")


def train(data, label: str, output, task: str | None = None, window: int | None = None, step: int | None = None,
          val: float = 0.2, epochs: int = 30, seed: int = 0, prune: float | None = None, qat: bool = False,
          batch: int = 32, say=print, progress=None) -> dict:
    """Train, convert and write the .mote; returns the figures printed."""
    from .. import api
    from . import evaluate
    from ..run import report
    data, output = Path(data), Path(output)
    t0 = time.perf_counter()
    x, y, names, labels, task = _samples(data, label, task, val, window, step)
    tr, va = split(y, val, seed)
    mean, std, meta = _norm_meta(data, label, x, names, labels, tr, va, window, step)
    xn = api.normalize(x, meta)
    say(f"{data}: {len(x)} {'windows of ' + str(window) + ' rows' if window else 'rows'}, "
        f"{len(names)} features ({', '.join(names)}); training on {len(tr)}, validating on {len(va)}"
        + (f"; classes {', '.join(labels)}" if labels else ""))
    core = _fit(x, y, tr, mean, std, len(labels) if labels else 1, task, epochs, batch, seed, progress)
    f_out = np.asarray(core.predict(xn[va], verbose=0, batch_size=256)).reshape(len(va), -1)
    info = {"engine": "keras (float)", "labels": labels}
    float_score = evaluate.score(f_out, y[va], info, task, "validation")
    mote, stages = _convert(core, xn, y, tr, va, output, meta, prune, qat, epochs, batch, seed, progress)
    tmp_out = output.with_name(output.name + ".part")
    tmp_out.write_bytes(mote)
    tmp_out.replace(output)
    out8, info8 = evaluate.predict(output, x[va])
    int8_score = evaluate.score(out8, y[va], info8, task, "validation")
    model, size, _ = api.load_model(output)
    summary = report.summary(model, size)
    params = int(core.count_params())
    key = "accuracy" if task == "classify" else "mae"
    fmt = (lambda r: f"{100 * r['accuracy']:.2f} %") if task == "classify" else (lambda r: f"MAE {r['mae']:.4g}")
    say(f"validation ({len(va)} {'windows' if window else 'rows'}): float {fmt(float_score)}, "
        f"int8 {fmt(int8_score)} (as the board computes it)")
    say(evaluate.format_table(int8_score))
    if stages:
        from . import compress
        say(compress.format_table(stages, task))
    say(f"{params:,} parameters, {summary['macs']:,} MACs, peak RAM {summary['peak_ram_resident']:,} B "
        f"resident; wrote {output} ({size:,} bytes) in {time.perf_counter() - t0:.1f} s")
    return {"float": float_score, "int8": int8_score, key: int8_score[key], "bytes": size, "params": params,
            "labels": labels, "features": names, "output": str(output), "train": len(tr), "val": len(va)}


def _samples(data: Path, label: str, task, val: float, window, step):
    """The table read and checked: (x, y, feature names, labels, task); classes become their
    indices in sorted order, and rows become windows with --window."""
    from . import evaluate
    x, y, names = read_table(data, label)
    if task is None:
        task = "classify"
    if task not in evaluate.TASKS:
        raise ModelError(f"--task {task}: use classify or regress")
    if not 0 < val < 1:
        raise ModelError(f"--val {val}: give the fraction kept for validation, e.g. 0.2")
    if task == "regress" and y.dtype.kind not in "iuf":
        raise ModelError(f"{data}: --task regress needs numbers in the {label!r} column")
    if task == "classify":
        classes = sorted(set(y.tolist()))
        if len(classes) < 2:
            raise ModelError(f"{data}: only one class in {label!r} ({classes[0]}): record at least two labels")
        labels = [str(c) for c in classes]
        y = np.array([classes.index(v) for v in y.tolist()], dtype=np.int64)
    else:
        labels, y = None, y.astype(np.float32)
    if window:
        if window < 2:
            raise ModelError(f"--window {window}: give at least 2 rows")
        x, y = windows(x, y, window, step or max(1, window // 2))
        x = x[:, :, None, :]                         # [windows, N, 1, features]: time as a Conv2D's height
    if task == "classify":
        counts = np.bincount(y, minlength=len(labels))
        few = [f"{labels[c]} ({counts[c]})" for c in range(len(labels)) if counts[c] < MIN_PER_CLASS]
        if few:
            raise ModelError(f"{data}: too few {'windows' if window else 'rows'} for "
                             f"{', '.join(few)}: each class needs at least {MIN_PER_CLASS}")
    elif len(y) < MIN_PER_CLASS * 2:
        raise ModelError(f"{data}: {len(y)} {'windows' if window else 'rows'} are too few to train on")
    return x, y, names, labels, task


def _norm_meta(data: Path, label: str, x, names, labels, tr, va, window, step):
    """Each feature's mean and std over the training rows (float32, a std of ~0 as 1), and the
    .mote's meta that carries them."""
    feats = x.reshape(len(x), -1, len(names))[tr].reshape(-1, len(names))
    mean = np.asarray(_f32(feats.mean(axis=0)), np.float32)
    std = feats.std(axis=0)
    std = np.asarray(_f32(np.where(std > 1e-6 * np.maximum(1.0, np.abs(mean)), std, 1.0)), np.float32)
    meta = {"input_norm": {"mean": mean.tolist(), "std": std.tolist()}, "features": names,
            "trained_on": {"file": data.name, "label": label, "rows": int(len(tr)), "val": int(len(va))}}
    if window:
        meta["window"] = {"rows": window, "step": step or max(1, window // 2)}
    if labels:
        meta["labels"] = labels
    return mean, std, meta


def _fit(x, y, tr, mean, std, n_out: int, task: str, epochs: int, batch: int, seed: int, progress):
    """The core model (build's), trained on raw readings behind a Normalization layer; for
    regression the targets are scaled while training and scaled back into its last layer."""
    from ._keras import _keras
    from ..compiler.keras_import import _quiet
    with _quiet():
        keras = _keras()
    keras.utils.set_random_seed(seed)
    core = build(keras, x.shape[1:], n_out, task)
    y_mean = y_std = None
    yt = y
    if task == "regress":               # targets scaled while training, scaled back into the last layer
        y_mean, y_std = float(y[tr].mean()), float(y[tr].std() or 1.0)
        yt = (y - y_mean) / y_std
    # the model trained: raw readings -> Normalization (the training rows' statistics) -> core
    raw = keras.Input(shape=x.shape[1:], name="raw")
    norm = keras.layers.Normalization(axis=-1, mean=mean, variance=std.astype(np.float64) ** 2, name="norm")
    trained = keras.Model(raw, core(norm(raw)))
    trained.compile(optimizer=keras.optimizers.Adam(0.01),
                    loss="sparse_categorical_crossentropy" if task == "classify" else "mse")

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if progress:
                progress(f"epoch {epoch + 1}/{epochs}, loss {(logs or {}).get('loss', float('nan')):.4f}")
    with _quiet():
        trained.fit(x[tr], yt[tr], epochs=epochs, batch_size=batch, verbose=0, shuffle=True, callbacks=[Epochs()])
    if task == "regress":
        w, b = core.get_layer("out").get_weights()
        core.get_layer("out").set_weights([w * y_std, b * y_std + y_mean])
    return core


def _convert(core, xn, y, tr, va, output: Path, meta: dict, prune, qat: bool, epochs: int, batch: int, seed: int,
             progress):
    """The .mote's bytes and compress's stages (None without --prune/--qat): motes convert
    calibrated on up to 500 training rows, or motes compress's stages."""
    from .. import api
    from ..compiler.keras_import import _quiet
    stages = None
    with tempfile.TemporaryDirectory() as tmp:
        if prune or qat:
            from . import compress
            res = compress.compress(core, xn[tr], y[tr], xn[va], y[va], prune=prune, quantize_aware=qat,
                                    epochs=max(2, epochs // 4), batch=batch, seed=seed, meta=meta,
                                    progress=progress, keep_stages=True)
            mote, stages = res.mote, res.stages
        else:
            path = Path(tmp) / f"{output.stem}.keras"
            core.save(path)
            cal = Path(tmp) / "calib.npy"
            rng = np.random.default_rng(seed)
            np.save(cal, xn[tr][rng.permutation(len(tr))[:500]])
            with _quiet():
                mote = api.convert(path, calibration=cal, meta=meta).data
    return mote, stages


def add_arguments(s) -> None:
    s.add_argument("data", help="a CSV with a header: the label column and numeric features "
                                "(what motes record writes; a timestamp column is skipped)")
    s.add_argument("--label", required=True, help="the column with the answer")
    s.add_argument("--task", choices=["classify", "regress"], help="default: classify")
    s.add_argument("--window", type=int, metavar="N", help="windows of N consecutive rows (time series)")
    s.add_argument("--step", type=int, metavar="M", help="with --window: a new window every M rows (default N/2)")
    s.add_argument("--val", type=float, default=0.2, help="fraction of each class kept for validation (default 0.2)")
    s.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--prune", type=float, metavar="FRACTION", help="then prune to this sparsity (motes compress)")
    s.add_argument("--qat", action="store_true", help="then quantization-aware fine-tuning (motes compress)")
    s.add_argument("-o", "--output", required=True, help="the .mote to write")


def do_train(args) -> int:
    if args.step is not None and not args.window:
        raise ModelError("--step goes with --window N")
    if args.step is not None and args.step < 1:
        raise ModelError("--step: give at least 1 row")
    if args.epochs < 1:
        raise ModelError("--epochs: give at least 1")
    train(args.data, args.label, args.output, task=args.task, window=args.window, step=args.step, val=args.val,
          epochs=args.epochs, seed=args.seed, prune=args.prune, qat=args.qat, batch=args.batch,
          progress=(lambda m: print(f"  {m}", file=sys.stderr, flush=True)) if sys.stderr.isatty() else None)
    return 0
