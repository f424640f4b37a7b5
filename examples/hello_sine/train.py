"""Train the classic first model, sin(x) on [0, 2*pi], and convert it to hello_sine.mote.

    cd examples/hello_sine
    ../../.venv/bin/python train.py          # ~15 s: writes model.keras, calib.npy, hello_sine.mote

A multilayer perceptron (1 -> 16 -> 16 -> 1, 321 parameters) learns y = sin(x)
from 2 000 noisy samples (sd 0.05, like a real measurement), is quantized to
int8 with the motes converter, and checked on a fine grid of x it never saw:
the float model, then the int8 model exactly as the board runs it (the host's
reference executor gives the same int8 numbers as the device runtime).
"""
from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # quiet TensorFlow

import numpy as np

HERE = Path(__file__).resolve().parent
X_MAX = 2 * math.pi
NOISE = 0.05           # sd of the noise on the training targets
N_TRAIN = 2000
GRID = 1000            # points of the evaluation grid


def make_model(keras, batch_size=None):
    """The MLP. batch_size=1 for the model we convert (the board runs one x at a time)."""
    inp = keras.Input(shape=(1,), batch_size=batch_size, name="x")
    h = keras.layers.Dense(16, activation="relu", name="hidden1")(inp)
    h = keras.layers.Dense(16, activation="relu", name="hidden2")(h)
    out = keras.layers.Dense(1, name="y")(h)
    return keras.Model(inp, out, name="hello_sine")


def grid(n=GRID):
    """Evenly spaced x over [0, 2*pi], offset by half a step so no point is a training-set corner."""
    return ((np.arange(n) + 0.5) * X_MAX / n).astype(np.float32)


def int8_outputs(model, xs):
    """What the board computes for each x: the .mote run by the host's reference executor."""
    from motes import api
    return np.array([api.run(model, np.array([[x]], np.float32))[1].item() for x in xs], np.float32)


def train(out_dir=HERE, seed=0, epochs=80, quiet=False):
    """Train, evaluate, save and convert. Returns a dict of results (errors, sizes, paths)."""
    say = (lambda *a: None) if quiet else print
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    import keras
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, X_MAX, N_TRAIN).astype(np.float32)
    y = (np.sin(x) + rng.normal(0, NOISE, N_TRAIN)).astype(np.float32)

    model = make_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="mse")
    model.fit(x[:, None], y[:, None], batch_size=32, epochs=epochs, verbose=0, shuffle=True)

    ship = make_model(keras, batch_size=1)
    ship.set_weights(model.get_weights())
    model_path = out_dir / "model.keras"
    ship.save(model_path)
    calib_path = out_dir / "calib.npy"
    # Calibration: training inputs, which set the int8 input scale to (largest x seen) / 255.
    # (An exact 2*pi/255 would put some "round" x values, such as 2*pi*2/20, exactly halfway
    # between two int8 steps, where a board's float32 and the PC's float64 may round apart.)
    np.save(calib_path, x[:256, None])

    from motes import api
    from motes.format import from_bytes
    conv = api.convert(model_path, calibration=calib_path,
                       meta={"name": "hello_sine", "x_range": [0.0, X_MAX]})
    mote_path = out_dir / "hello_sine.mote"
    mote_path.write_bytes(conv.data)

    xs = grid()
    truth = np.sin(xs)
    y_float = model.predict(xs[:, None], batch_size=GRID, verbose=0).ravel()
    y_int8 = int8_outputs(from_bytes(conv.data), xs)
    err = {
        "float_rmse": float(np.sqrt(np.mean((y_float - truth) ** 2))),
        "int8_rmse": float(np.sqrt(np.mean((y_int8 - truth) ** 2))),
        "int8_max": float(np.max(np.abs(y_int8 - truth))),
        "zero_rmse": float(np.sqrt(np.mean(truth ** 2))),          # always answering 0
    }
    params = int(ship.count_params())
    say(f"on {GRID} points of [0, 2pi]: float RMSE {err['float_rmse']:.3f}, int8 RMSE {err['int8_rmse']:.3f} "
        f"(max error {err['int8_max']:.3f}); always 0 would be {err['zero_rmse']:.3f}")
    say(f"{params} parameters; wrote {model_path.name}, {calib_path.name}, {mote_path.name} "
        f"({len(conv.data)} bytes) in {time.perf_counter() - t0:.1f} s")
    return dict(err, params=params, mote_bytes=len(conv.data), mote=mote_path, model=model_path)


def main(argv=None):
    from motes.learn import retrain
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    retrain.add_options(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=80)
    a = p.parse_args(argv)
    with retrain.output_folder(a, HERE) as out:
        train(out, a.seed, a.epochs)


if __name__ == "__main__":
    main()
