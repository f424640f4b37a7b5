"""Train a small CNN on scikit-learn's 8x8 handwritten digits and convert it to digits.mote.

    cd examples/digits
    ../../.venv/bin/python train.py          # ~20 s: accuracy, then digits.mote and samples.json

The data is `sklearn.datasets.load_digits`: 1 797 digits written by 13 people,
8x8 pixels of 0..16 (the test part of UCI's "Optical Recognition of
Handwritten Digits"; it ships inside scikit-learn, nothing is downloaded). A
seeded, stratified fifth of it is held out for testing. The model: two 3x3
convolutions with max pooling, then one dense layer (8x8x1 -> 10 classes,
about 2 000 parameters), trained on pixels / 16 and quantized to int8.

Writes model.keras, calib.npy, digits.mote (labels "0".."9" and the
preprocessing inside) and samples.json: 22 held-out digits for the board to classify (two of
each, and two that the int8 model gets wrong).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # quiet TensorFlow

import numpy as np

HERE = Path(__file__).resolve().parent
LABELS = [str(d) for d in range(10)]
LEVELS = 16            # pixel values are 0..16
TEST_FRACTION = 0.2
SAMPLES_PER_DIGIT = 2
MISTAKES = 2


def load(seed=0):
    """(x_train, y_train, x_test, y_test): pixels 0..16 as [N, 8, 8] uint8, labels 0..9."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise SystemExit("this example needs scikit-learn for its data set: pip install scikit-learn") from e
    d = load_digits()
    x = d.images.astype(np.uint8)
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=TEST_FRACTION, random_state=seed,
                                          stratify=d.target)
    return xtr, ytr, xte, yte


def make_model(keras, batch_size=None):
    """The CNN. batch_size=1 for the model we convert (the board classifies one digit at a time)."""
    inp = keras.Input(shape=(8, 8, 1), batch_size=batch_size, name="pixels")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)                 # 4x4x8
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)                 # 2x2x16
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dropout(0.25, name="drop")(h)                    # training only
    out = keras.layers.Dense(10, activation="softmax", name="probs")(h)
    return keras.Model(inp, out, name="digits")


def prepare(x):
    """Pixels 0..16 -> the model's input, [N, 8, 8, 1] floats 0..1 (the board does the same)."""
    return (np.asarray(x, np.float32) / LEVELS)[..., None]


def calibration(xtr, rng, n=100):
    """Training digits for the int8 converter, plus one value of 17/16.

    TensorFlow sets the input's int8 scale from the range it sees: with 0 .. 17/16
    it is exactly 1/240, so a pixel value v (0..16) becomes the int8 step
    15 * v - 128 with no rounding at all, and every board (float32 or float64)
    quantizes it exactly like TensorFlow Lite Micro.
    """
    calib = prepare(xtr[rng.choice(len(xtr), n, replace=False)])
    calib[0, 0, 0, 0] = (LEVELS + 1) / LEVELS
    return calib


def pick_samples(xte, yte, pred, n_wrong=MISTAKES):
    """The first SAMPLES_PER_DIGIT held-out digits of each class, and the first n_wrong the
    int8 model gets wrong (so the board shows a mistake too), in test-set order."""
    idx = []
    for d in range(10):
        idx += [int(i) for i in np.flatnonzero(yte == d)[:SAMPLES_PER_DIGIT]]
    idx += [int(i) for i in np.flatnonzero(pred != yte)[:n_wrong]]
    return sorted(set(idx))


def write_samples(path, xte, yte, idx):
    """samples.json: one digit per line, {"label": 3, "pixels": [64 values 0..16, row by row]}."""
    rows = [json.dumps({"label": int(yte[i]), "pixels": [int(v) for v in xte[i].ravel()]},
                       separators=(",", ":")) for i in idx]
    Path(path).write_text("[\n" + ",\n".join(rows) + "\n]\n")


def train(out_dir=HERE, seed=0, epochs=60, quiet=False):
    """Train, evaluate, save and convert. Returns a dict of results (accuracies, sizes, paths)."""
    say = (lambda *a: None) if quiet else print
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import keras
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    xtr, ytr, xte, yte = load(seed)
    say(f"{len(xtr)} training digits, {len(xte)} held out")

    model = make_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(prepare(xtr), ytr, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    float_pred = np.argmax(model.predict(prepare(xte), batch_size=512, verbose=0), axis=1)

    ship = make_model(keras, batch_size=1)
    ship.set_weights(model.get_weights())
    model_path = out_dir / "model.keras"
    ship.save(model_path)
    calib_path = out_dir / "calib.npy"
    np.save(calib_path, calibration(xtr, np.random.default_rng(seed)))

    from motes import api
    from motes.run.executor import Executor
    from motes.format import from_bytes
    meta = {"name": "digits", "labels": LABELS,
            "preprocess": {"input": "8x8 pixels 0..16, row by row", "divide_by": LEVELS}}
    conv = api.convert(model_path, calibration=calib_path, meta=meta)
    mote_path = out_dir / "digits.mote"
    mote_path.write_bytes(conv.data)

    # The int8 model on every held-out digit, as the board runs it.
    model8 = from_bytes(conv.data)
    t_in = model8.tensors[model8.inputs[0]]
    ex = Executor(model8)
    int8_pred = np.array([int(np.argmax(ex.run([api.quantize_input(prepare(x[None]), t_in.scale,
                                                                     t_in.zero_point)])[0]))
                          for x in xte])
    # What to beat: the nearest mean digit (the average training image of each class).
    means = np.stack([xtr[ytr == d].reshape(-1, 64).mean(0) for d in range(10)])
    dist = ((xte.reshape(-1, 1, 64).astype(np.float32) - means[None]) ** 2).sum(-1)
    mean_pred = np.argmin(dist, axis=1)
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (yte, int8_pred), 1)
    res = {
        "float_accuracy": float(np.mean(float_pred == yte)),
        "int8_accuracy": float(np.mean(int8_pred == yte)),
        "nearest_mean_accuracy": float(np.mean(mean_pred == yte)),
        "confusion": confusion,
        "int8_pred": int8_pred, "x_test": xte, "y_test": yte,
    }
    idx = pick_samples(xte, yte, int8_pred)
    samples_path = out_dir / "samples.json"
    write_samples(samples_path, xte, yte, idx)

    params = int(ship.count_params())
    wrong = [(int(yte[i]), int(int8_pred[i])) for i in np.flatnonzero(int8_pred != yte)]
    say(f"held-out accuracy: int8 {res['int8_accuracy']:.3f}, float {res['float_accuracy']:.3f}; "
        f"nearest mean digit {res['nearest_mean_accuracy']:.3f}")
    say(f"int8 mistakes (true, said): {wrong}")
    say(f"{params} parameters; wrote {model_path.name}, {calib_path.name}, {mote_path.name} "
        f"({len(conv.data)} bytes), {samples_path.name} ({len(idx)} digits) in {time.perf_counter() - t0:.1f} s")
    return dict(res, params=params, mote_bytes=len(conv.data), mote=mote_path, samples=samples_path,
                sample_index=idx)


def main(argv=None):
    from motes.learn import retrain
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    retrain.add_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--test-data", metavar="FILE.npz",
                   help="only write the held-out fifth (x: pixels / 16 as the model takes them, y: "
                        "digits) for `motes evaluate digits.mote --data FILE.npz`, and stop")
    p.add_argument("--train-data", metavar="FILE.npz",
                   help="also write the training part the same way (for motes compress), and stop")
    a = p.parse_args(argv)
    if a.test_data or a.train_data:
        xtr, ytr, xte, yte = load(a.seed)
        for path, xs, ys in ((a.test_data, xte, yte), (a.train_data, xtr, ytr)):
            if path:
                np.savez(path, x=(xs[..., None] / LEVELS).astype(np.float32), y=ys)
                print(f"wrote {path}: {len(ys)} digits")
        return
    with retrain.output_folder(a, HERE) as out:
        train(out, a.seed, a.epochs)


if __name__ == "__main__":
    main()
