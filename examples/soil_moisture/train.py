"""Train the soil-moisture classifier on the PC and convert it to soil.mote.

    cd examples/soil_moisture
    ../../.venv/bin/python train.py                      # writes model.keras, calib.npy, meta.json, soil.mote
    ../../.venv/bin/python train.py --dry 45500 --wet 19800   # your probe's counts (README "Calibration")

Steps: simulate 60 pots for 30 days (data.py), keep 12 pots aside to test on,
standardize the 4 features (the mean and scale go to meta.json and into the
.mote, and the board applies them before predicting), train a tiny MLP
(4 -> 16 -> 8 -> 3, 243 parameters), report accuracy on the unseen pots,
then quantize it to int8 and write soil.mote with the motes converter.
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

TEST_POTS = 12


def make_model(keras, batch_size=None):
    """The MLP. batch_size=1 for the model we convert (the board runs one reading at a time)."""
    inp = keras.Input(shape=(len(data.FEATURES),), batch_size=batch_size, name="features")
    h = keras.layers.Dense(16, activation="relu", name="hidden1")(inp)
    h = keras.layers.Dense(8, activation="relu", name="hidden2")(h)
    out = keras.layers.Dense(len(data.LABELS), activation="softmax", name="probs")(h)
    return keras.Model(inp, out, name="soil")


def standardization(x):
    """Mean and scale (standard deviation) per feature, rounded so they read well in meta.json."""
    mean = [float(f"{v:.4g}") for v in x.mean(axis=0)]
    scale = [float(f"{v:.4g}") for v in x.std(axis=0)]
    return mean, scale


def train(out_dir=HERE, seed=0, epochs=8, dry=data.DRY_COUNTS, wet=data.WET_COUNTS, quiet=False):
    """Train, evaluate, save and convert. Returns a dict of results (accuracy, sizes, paths)."""
    say = (lambda *a: None) if quiet else print
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import keras
    keras.utils.set_random_seed(seed)

    t0 = time.perf_counter()
    x, y, pot = data.make_dataset(n_probes=60, days=30, seed=seed, dry=dry, wet=wet)
    test = pot >= pot.max() + 1 - TEST_POTS           # whole pots held out, never seen in training
    mean, scale = standardization(x[~test])
    xs = ((x - np.array(mean, np.float32)) / np.array(scale, np.float32)).astype(np.float32)
    say(f"{len(x)} readings from {pot.max() + 1} simulated pots ({test.sum()} from {TEST_POTS} held-out pots)")

    # The classes are unbalanced (wet is rare: only hours after watering): weight them
    # by 1/sqrt(frequency), a middle way between plain accuracy and equal recall.
    counts = np.bincount(y[~test], minlength=len(data.LABELS))
    class_weight = {i: float(np.sqrt(counts.max() / max(c, 1))) for i, c in enumerate(counts)}

    model = make_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xs[~test], y[~test], batch_size=256, epochs=epochs, class_weight=class_weight,
              verbose=0, shuffle=True)

    pred = np.argmax(model.predict(xs[test], batch_size=4096, verbose=0), axis=1)
    accuracy = float(np.mean(pred == y[test]))
    recall = {name: float(np.mean(pred[y[test] == i] == i)) for i, name in enumerate(data.LABELS)}
    # The plainest rule a hobbyist would write: fixed count thresholds from the typical
    # probe (what the model has to beat).
    c = x[test, 0]
    dry_at = dry - (dry - wet) * (data.DRY_VWC / 50.0) ** 0.85    # data.counts_of without noise
    wet_at = dry - (dry - wet) * (data.WET_VWC / 50.0) ** 0.85
    rule = np.where(c > dry_at, 0, np.where(c < wet_at, 2, 1))
    rule_accuracy = float(np.mean(rule == y[test]))
    say(f"held-out accuracy {accuracy:.3f} (dry {recall['dry']:.3f}, ok {recall['ok']:.3f}, "
        f"wet {recall['wet']:.3f}); fixed count thresholds {rule_accuracy:.3f}")

    # The model we ship: batch size 1, same weights.
    ship = make_model(keras, batch_size=1)
    ship.set_weights(model.get_weights())
    model_path = out_dir / "model.keras"
    ship.save(model_path)
    calib_path = out_dir / "calib.npy"
    rng = np.random.default_rng(seed)
    np.save(calib_path, xs[~test][rng.choice(int((~test).sum()), 500, replace=False)])
    meta = {"preprocess": {"mean": mean, "scale": scale}, "features": data.FEATURES,
            "step_min": data.STEP_MIN}
    meta_path = out_dir / "meta.json"
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")

    from motes import api
    conv = api.convert(model_path, calibration=calib_path, meta=dict(meta, labels=data.LABELS))
    mote_path = out_dir / "soil.mote"
    mote_path.write_bytes(conv.data)
    params = int(ship.count_params())
    say(f"{params} parameters; wrote {model_path.name}, {calib_path.name}, {meta_path.name}, "
        f"{mote_path.name} ({len(conv.data)} bytes) in {time.perf_counter() - t0:.1f} s")
    return {"accuracy": accuracy, "recall": recall, "rule_accuracy": rule_accuracy, "params": params,
            "mote_bytes": len(conv.data), "mote": mote_path, "meta": meta_path, "model": model_path,
            "x_test": x[test], "y_test": y[test]}


def main(argv=None):
    from motes.learn import retrain
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    retrain.add_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--dry", type=int, default=data.DRY_COUNTS, help="your probe's read_u16 in dry soil/air")
    p.add_argument("--wet", type=int, default=data.WET_COUNTS, help="your probe's read_u16 in water")
    p.add_argument("--data-out", metavar="PREFIX",
                   help="only write the split as PREFIX_train.npz and PREFIX_test.npz (x: standardized as the "
                        "model takes it, y: 0 dry, 1 ok, 2 wet) for motes compress / evaluate, and stop")
    a = p.parse_args(argv)
    if a.data_out:
        x, y, pot = data.make_dataset(n_probes=60, days=30, seed=a.seed, dry=a.dry, wet=a.wet)
        test = pot >= pot.max() + 1 - TEST_POTS
        mean, scale = standardization(x[~test])
        xs = ((x - np.array(mean, np.float32)) / np.array(scale, np.float32)).astype(np.float32)
        for part, sel in (("train", ~test), ("test", test)):
            np.savez(f"{a.data_out}_{part}.npz", x=xs[sel], y=y[sel])
        print(f"wrote {a.data_out}_train.npz ({int((~test).sum())} readings), {a.data_out}_test.npz "
              f"({int(test.sum())}, from {TEST_POTS} held-out pots)")
        return
    with retrain.output_folder(a, HERE) as out:
        train(out, a.seed, a.epochs, a.dry, a.wet)


if __name__ == "__main__":
    main()
