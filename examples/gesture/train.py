"""Train the gesture classifier on simulated accelerometer windows and convert it to gesture.mote.

    cd examples/gesture
    ../../.venv/bin/python train.py          # ~30 s: accuracy, confusion, then gesture.mote + windows.json

Steps: simulate 60 people doing each gesture 20 times and 15 other people (the
test set, never seen in training) 10 times (data.py), train a small CNN over
time (1.6 s x 3 axes -> idle / shake / circle / punch), report accuracy and
the confusion matrix on the unseen people against a simple baseline, quantize
to int8 and write gesture.mote. windows.json gets two recorded windows of each
gesture from the unseen people, for the board to replay.

The model's input is the window as read, in g: [80 readings, 1, 3 axes], the
time axis as the image height of a Conv2D with 5x1 kernels. (TFLite has no
1-D convolution: a Keras Conv1D converts too, into a CONV_2D with reshapes
around it; written as Conv2D, the graph is plain conv and pool layers.)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # quiet TensorFlow

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data  # noqa: E402

TRAIN_PEOPLE, TEST_PEOPLE = 60, 15
TRAIN_PER_CLASS, TEST_PER_CLASS = 20, 10
RECORDED_PER_CLASS = 2
# int8 input range: -4 g .. 4 - 1/32 g, so the input scale is exactly 1/32 g (see calibration)
IN_MIN, IN_MAX = -data.RANGE_G, data.RANGE_G - 1 / 32


def make_model(keras, batch_size=None):
    """The CNN: three (conv 5x1, max pool 2x1) stages over time, then a dense layer."""
    inp = keras.Input(shape=(data.WINDOW, 1, 3), batch_size=batch_size, name="accel_g")
    h = inp
    for i, filters in enumerate((8, 16, 16)):
        h = keras.layers.Conv2D(filters, (5, 1), padding="same", activation="relu", name=f"conv{i + 1}")(h)
        h = keras.layers.MaxPooling2D((2, 1), name=f"pool{i + 1}")(h)        # 80 -> 40 -> 20 -> 10
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)                            # training only
    h = keras.layers.Dense(16, activation="relu", name="dense")(h)
    out = keras.layers.Dense(len(data.GESTURES), activation="softmax", name="probs")(h)
    return keras.Model(inp, out, name="gesture")


def prepare(windows_mg):
    """[N, 80, 3] mg -> the model's input [N, 80, 1, 3] in g (the board divides by 1000 too)."""
    return (np.asarray(windows_mg, np.float32) / 1000.0)[:, :, None, :]


def calibration(x, rng, n=40):
    """Training windows for the int8 converter, plus one reading at each end of the range.

    TensorFlow sets the input scale from the range it sees: -4 .. 4 - 1/32 g makes it
    exactly 1/32 g with zero point 0, so a reading of v mg becomes the int8 step
    round(v / 31.25), never exactly halfway for whole mg: every board (float32 or
    float64) quantizes it like TensorFlow Lite Micro."""
    calib = np.clip(x[rng.choice(len(x), n, replace=False)], IN_MIN, IN_MAX)
    calib[0, 0, 0, 0], calib[0, 1, 0, 0] = IN_MIN, IN_MAX
    return calib


def features(windows_mg):
    """The baseline's hand-made features: spread and peak of |a|, sorted spread of each axis,
    and the mean change from one reading to the next (how jerky)."""
    g = np.asarray(windows_mg, np.float64) / 1000.0
    mag = np.linalg.norm(g, axis=2)
    axis_sd = np.sort(g.std(axis=1), axis=1)
    jerk = np.abs(np.diff(g, axis=1)).mean(axis=(1, 2))
    return np.column_stack([mag.std(1), mag.max(1), axis_sd, jerk])


def nearest_centroid(ftr, ytr, fte):
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-9
    cents = np.stack([((ftr[ytr == k] - mu) / sd).mean(0) for k in range(len(data.GESTURES))])
    d = (((fte - mu) / sd)[:, None, :] - cents[None]) ** 2
    return np.argmin(d.sum(-1), axis=1)


def write_windows(path, windows_mg, labels, idx):
    """windows.json: one recorded window per line, {"label": "shake", "mg": [x0, y0, z0, x1, ...]}."""
    rows = [json.dumps({"label": data.GESTURES[int(labels[i])], "mg": [int(v) for v in windows_mg[i].ravel()]},
                       separators=(",", ":")) for i in idx]
    Path(path).write_text("[\n" + ",\n".join(rows) + "\n]\n")


def train(out_dir=HERE, seed=0, epochs=30, quiet=False):
    """Simulate, train, evaluate, save and convert. Returns a dict of results."""
    say = (lambda *a: None) if quiet else print
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import keras
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()

    xtr, ytr, _ = data.make_dataset(TRAIN_PEOPLE, TRAIN_PER_CLASS, seed=seed)
    xte, yte, pte = data.make_dataset(TEST_PEOPLE, TEST_PER_CLASS, seed=seed + 1000)   # other people
    say(f"{len(xtr)} training windows from {TRAIN_PEOPLE} simulated people, "
        f"{len(xte)} test windows from {TEST_PEOPLE} others")

    model = make_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(prepare(xtr), ytr, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    float_pred = np.argmax(model.predict(prepare(xte), batch_size=512, verbose=0), axis=1)

    ship = make_model(keras, batch_size=1)
    ship.set_weights(model.get_weights())
    model_path = out_dir / "model.keras"
    ship.save(model_path)
    calib_path = out_dir / "calib.npy"
    np.save(calib_path, calibration(prepare(xtr), np.random.default_rng(seed)))

    from motes import api
    from motes.run.executor import Executor
    from motes.format import from_bytes
    meta = {"name": "gesture", "labels": data.GESTURES,
            "preprocess": {"input": "80 readings x (x, y, z) at 50 Hz, in g (mg / 1000)",
                           "rate_hz": data.RATE_HZ, "window": data.WINDOW, "range_g": data.RANGE_G}}
    conv = api.convert(model_path, calibration=calib_path, meta=meta)
    mote_path = out_dir / "gesture.mote"
    mote_path.write_bytes(conv.data)

    # The int8 model on every test window, as the board runs it.
    model8 = from_bytes(conv.data)
    t_in = model8.tensors[model8.inputs[0]]
    ex = Executor(model8)
    xq = api.quantize_input(prepare(xte), t_in.scale, t_in.zero_point)
    int8_pred = np.array([int(np.argmax(ex.run([xq[i:i + 1]])[0])) for i in range(len(xq))])
    base_pred = nearest_centroid(features(xtr), ytr, features(xte))
    n = len(data.GESTURES)
    confusion = np.zeros((n, n), int)
    np.add.at(confusion, (yte, int8_pred), 1)
    res = {
        "float_accuracy": float(np.mean(float_pred == yte)),
        "int8_accuracy": float(np.mean(int8_pred == yte)),
        "baseline_accuracy": float(np.mean(base_pred == yte)),
        "confusion": confusion, "int8_pred": int8_pred,
    }

    # Two windows of each gesture from the unseen people, the first ones in order.
    idx = sorted(int(i) for k in range(n) for i in np.flatnonzero(yte == k)[::37][:RECORDED_PER_CLASS])
    windows_path = out_dir / "windows.json"
    write_windows(windows_path, xte, yte, idx)

    params = int(ship.count_params())
    say(f"test accuracy (unseen people): int8 {res['int8_accuracy']:.3f}, float {res['float_accuracy']:.3f}; "
        f"nearest centroid on 6 hand-made features {res['baseline_accuracy']:.3f}")
    say("confusion (rows: true, columns: said) " + " ".join(f"{g:>6s}" for g in data.GESTURES))
    for k, g in enumerate(data.GESTURES):
        say(f"  {g:>6s} " + " ".join(f"{v:6d}" for v in confusion[k]) + f"   recall {confusion[k, k] / confusion[k].sum():.2f}")
    say(f"{params} parameters; wrote {model_path.name}, {calib_path.name}, {mote_path.name} "
        f"({len(conv.data)} bytes), {windows_path.name} ({len(idx)} windows) in {time.perf_counter() - t0:.1f} s")
    return dict(res, params=params, mote_bytes=len(conv.data), mote=mote_path, windows=windows_path,
                window_index=idx, x_test=xte, y_test=yte)


def main(argv=None):
    from motes.learn import retrain
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    retrain.add_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    a = p.parse_args(argv)
    with retrain.output_folder(a, HERE) as out:
        train(out, a.seed, a.epochs)


if __name__ == "__main__":
    main()
