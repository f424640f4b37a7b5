"""Accuracy as the board computes it: `motes evaluate MODEL --data DATA`.

MODEL is a `.mote` or an int8 `.tflite` (run with the bit-exact executor, or
the device runtime itself with engine="micropython"), or a Keras model for the
float baseline. DATA is an `.npz` with arrays `x` and `y`, or a CSV whose
label column is named with `label` (the other columns are the features, in
file order; a `timestamp` column, as `motes record` writes, is skipped). Classification: top-1 accuracy, recall per class and the
confusion matrix (rows: true class, columns: predicted). Regression (one
output value, or task="regress"): MAE and RMSE of the dequantized output.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..compiler.graph import ModelError

TASKS = ("classify", "regress")
SKIP_COLUMNS = ("timestamp",)   # what `motes record` adds beside the readings: not a feature


def load_data(path, label: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) from an .npz (arrays x, y) or a CSV with a label column."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"--data {p}: not found")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z or "y" not in z:
                    raise ModelError(f"--data {p}: the .npz needs arrays named x and y (it has "
                                     f"{', '.join(z.files) or 'none'})")
                x, y = z["x"], z["y"]
        except (ValueError, OSError) as e:
            raise ModelError(f"--data {p}: not a readable .npz ({e})") from None
    elif p.suffix == ".csv":
        x, y = _load_csv(p, label)
    else:
        raise ModelError(f"--data {p}: use an .npz with arrays x and y, or a .csv with --label COLUMN")
    if x.dtype.kind not in "iuf":
        raise ModelError(f"--data {p}: x holds {x.dtype} values; it must be numbers")
    if len(x) != len(y):
        raise ModelError(f"--data {p}: x has {len(x)} samples but y has {len(y)}: they must match")
    if not len(x):
        raise ModelError(f"--data {p}: no samples")
    return x, y


def _load_csv(p: Path, label: str | None) -> tuple[np.ndarray, np.ndarray]:
    if not label:
        raise ModelError(f"--data {p}: a CSV needs --label COLUMN (the column with the true answer)")
    with open(p, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ModelError(f"--data {p}: empty file")
    head = [h.strip() for h in rows[0]]
    if label not in head:
        raise ModelError(f"--data {p}: no column {label!r} (columns: {', '.join(head)})")
    k = head.index(label)
    skip = {k} | {i for i, h in enumerate(head) if h in SKIP_COLUMNS}
    xs, ys = [], []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(head):
            raise ModelError(f"--data {p}: line {n} has {len(row)} fields, the header {len(head)}")
        try:
            xs.append([float(c) for i, c in enumerate(row) if i not in skip])
        except ValueError:
            raise ModelError(f"--data {p}: line {n}: a feature is not a number") from None
        ys.append(row[k].strip())
    y = np.array(ys)
    try:
        y = y.astype(np.float64)
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    except ValueError:
        pass                        # class names: matched with the model's labels
    return np.array(xs, dtype=np.float32), y


def _class_ids(y: np.ndarray, n_classes: int, labels: list[str] | None, what: str) -> np.ndarray:
    if y.dtype.kind in "US":
        if not labels:
            raise ModelError(f"{what}: the labels are names ({', '.join(sorted(set(y.tolist()))[:5])}...) "
                             "but the model has no labels: convert it with --labels, or give class numbers")
        index = {name: i for i, name in enumerate(labels)}
        unknown = sorted(set(y.tolist()) - set(index))
        if unknown:
            raise ModelError(f"{what}: labels {', '.join(unknown[:5])} are not among the model's "
                             f"({', '.join(labels)})")
        return np.array([index[v] for v in y.tolist()], dtype=np.int64)
    y = np.asarray(y).reshape(len(y), -1)
    if y.shape[1] == n_classes and n_classes > 1 and set(np.unique(y)) <= {0, 1}:
        y = y.argmax(axis=1)        # one-hot
    elif y.shape[1] != 1:
        raise ModelError(f"{what}: y has {y.shape[1]} values per sample; give one class id each "
                         f"(0..{n_classes - 1}) or a one-hot row of {n_classes}")
    y = y.ravel()
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ModelError(f"{what}: y holds fractions; classification needs class ids "
                             f"0..{n_classes - 1} (or --task regress)")
        y = y.astype(np.int64)
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise ModelError(f"{what}: label {int(y[bad][0])} is outside the model's {n_classes} classes "
                         f"(0..{n_classes - 1})")
    return y.astype(np.int64)


def _samples(x: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    per = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    total = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    if total != per:
        raise ModelError(f"{what}: each sample has {total} values (x is {'x'.join(map(str, x.shape))}); "
                         f"the model takes {per} (input shape {'x'.join(map(str, shape))})")
    return x.reshape((len(x),) + tuple(shape[1:]) if len(shape) > 1 else (len(x),))


def predict(model_path, x: np.ndarray, engine: str = "numpy", heap=None, board=None,
            backend=None) -> tuple[np.ndarray, dict]:
    """Float outputs (n, outputs) of a model for samples x, and facts about the model."""
    from ..compiler import keras_import
    p = Path(model_path)
    if keras_import.is_keras_path(p):
        if engine != "numpy" or board:
            raise ModelError(f"{p} is a float Keras model: it runs with TensorFlow on the host "
                             "(--engine applies to .mote and .tflite)")
        if not p.exists():
            raise ModelError(f"{p} not found")
        with keras_import._quiet():
            tf = keras_import._tf()
            model = tf.keras.models.load_model(p, compile=False)
        shape = (1,) + tuple(int(d) for d in model.inputs[0].shape[1:])
        xs = _samples(np.asarray(x, dtype=np.float32), shape, f"--data for {p.name}")
        with keras_import._quiet():
            out = np.asarray(model.predict(xs, verbose=0, batch_size=256)).reshape(len(xs), -1)
        return out, {"engine": "keras (float)", "labels": None}
    from .. import api
    from ..run.compare import run_engine
    from ..mote import to_bytes
    model, _, _ = api.load_model(p)
    t_in, t_out = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    xs = _samples(np.asarray(x), tuple(t_in.shape), f"--data for {p.name}")
    if xs.dtype == np.int8:
        xq = xs
    else:
        xq = api.quantize_model_input(model, xs)
    raw = p.read_bytes()
    data = raw if raw[4:8] != b"TFL3" else to_bytes(model)     # a .tflite: the .mote load_model made
    outs, info = run_engine(data, [q.reshape(t_in.shape) for q in xq], engine, heap=heap,
                            backend=backend, board=board)
    q = np.stack([np.asarray(o[0], dtype=np.int8).ravel() for o in outs])   # (the first output)
    info = {"engine": info.get("engine", engine), "labels": model.meta.get("labels"),
            **({"board": board} if board else {})}
    return api.dequantize(q, t_out.scale, t_out.zero_point), info


def evaluate(model_path, data_path, engine: str = "numpy", task: str | None = None,
             label: str | None = None, heap=None, board=None, backend=None) -> dict:
    """The figures of `motes evaluate` (keys: n, engine, task, and accuracy,
    per_class, confusion, labels for classification; mae, rmse for regression)."""
    if task is not None and task not in TASKS:
        raise ModelError(f"--task {task}: use {' or '.join(TASKS)}")
    x, y = load_data(data_path, label)
    out, info = predict(model_path, x, engine, heap=heap, board=board, backend=backend)
    return score(out, y, info, task, f"--data {data_path}")


def score(out: np.ndarray, y: np.ndarray, info: dict, task: str | None = None, what: str = "--data") -> dict:
    """The figures of evaluate() for outputs `out` (what predict() returns) against answers y."""
    n_out = out.shape[1]
    task = task or ("regress" if n_out == 1 else "classify")
    result = {"n": int(len(y)), "engine": info["engine"], "task": task}
    if "board" in info:
        result["board"] = info["board"]
    if task == "regress":
        if y.dtype.kind not in "iuf":
            raise ModelError(f"{what}: regression needs numbers in y")
        yv = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if yv.shape[1] != n_out:
            raise ModelError(f"{what}: y has {yv.shape[1]} values per sample, the model gives {n_out}")
        err = out.astype(np.float64) - yv
        result.update(mae=float(np.mean(np.abs(err))), rmse=float(np.sqrt(np.mean(err ** 2))))
        return result
    if n_out < 2:
        raise ModelError(f"{what}: classification needs a model with one output per class; this one "
                         "gives one value (use --task regress)")
    labels = info["labels"]
    yc = _class_ids(y, n_out, labels, what)
    pred = out.argmax(axis=1)
    conf = np.zeros((n_out, n_out), dtype=np.int64)
    np.add.at(conf, (yc, pred), 1)
    support = conf.sum(axis=1)
    recall = [float(conf[c, c] / support[c]) if support[c] else None for c in range(n_out)]
    names = list(labels) if labels and len(labels) == n_out else [str(c) for c in range(n_out)]
    result.update(accuracy=float(np.trace(conf) / len(yc)), labels=names,
                  per_class={names[c]: {"recall": recall[c], "support": int(support[c])} for c in range(n_out)},
                  confusion=conf.tolist())
    return result


def format_table(r: dict) -> str:
    head = f"{r['n']} samples, engine {r['engine']}" + (f" on the {r['board']} board" if r.get("board") else "")
    if r["task"] == "regress":
        return f"{head}\n  MAE  {r['mae']:.6g}\n  RMSE {r['rmse']:.6g}"
    names = r["labels"]
    w = max(6, max(len(s) for s in names) + 1)
    lines = [head, f"accuracy {100 * r['accuracy']:.2f} % ({int(round(r['accuracy'] * r['n']))} of {r['n']})", "",
             "confusion (rows: true class, columns: predicted)",
             " " * w + "".join(f"{s:>{w}}" for s in names) + f"{'recall':>9}"]
    for name, row in zip(names, r["confusion"]):
        rec = r["per_class"][name]["recall"]
        lines.append(f"{name:>{w}}" + "".join(f"{v:>{w}}" for v in row)
                     + (f"{100 * rec:>8.1f}%" if rec is not None else f"{'-':>9}"))
    return "\n".join(lines)
