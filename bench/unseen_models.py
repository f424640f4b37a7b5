"""Models shaped like the ones hobbyists bring, built here: bit-exact with TFLM, and their M0 cost.

    .venv/bin/python bench/unseen_models.py [--out DIR] [--models resnet8,autoencoder,gesture1d]

Three Keras models, calibrated on seeded random data (their accuracy is not the
point; their layer shapes are), converted to int8 .tflite and to .mote:
  resnet8      MLPerf Tiny's image classifier (32x32x3, three ADD skips, a 3x3
               CONV_2D over 64 channels, average pool, FC 64 -> 10)
  autoencoder  MLPerf Tiny's anomaly detection model (FC 640 -> 128 x4 -> 8 ->
               128 x4 -> 640, 264 K weights)
  gesture1d    a 1-D accelerometer network (Conv1D, SeparableConv1D with
               dilation 2, MaxPooling1D, a causal dilated Conv1D, global average)
For each: `motes compare` against TFLM (host executor, 5 random int8 inputs),
and `motes bench --isa armv6m` (instructions per MAC on the emulated Cortex-M0,
the layers above 2x their op's best). Needs TensorFlow; nothing is downloaded.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))


def _resnet8(keras, L):
    i = keras.Input((32, 32, 3), batch_size=1)
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(i)))

    def block(x, f, s):
        y = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(f, 3, strides=s, padding="same")(x)))
        y = L.BatchNormalization()(L.Conv2D(f, 3, padding="same")(y))
        if s != 1 or x.shape[-1] != f:
            x = L.Conv2D(f, 1, strides=s, padding="same")(x)
        return L.Activation("relu")(L.Add()([x, y]))
    x = block(block(block(x, 16, 1), 32, 2), 64, 2)
    x = L.Flatten()(L.AveragePooling2D(pool_size=8)(x))
    return keras.Model(i, L.Dense(10, activation="softmax")(x))


def _autoencoder(keras, L):
    i = keras.Input((640,), batch_size=1)
    x = i
    for n in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.Activation("relu")(L.BatchNormalization()(L.Dense(n)(x)))
    return keras.Model(i, L.Dense(640)(x))


def _gesture1d(keras, L):
    i = keras.Input((128, 3), batch_size=1)
    x = L.Conv1D(16, 5, padding="same", activation="relu")(i)
    x = L.SeparableConv1D(32, 5, dilation_rate=2, padding="same", activation="relu")(x)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(32, 3, dilation_rate=4, padding="causal", activation="relu")(x)
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(i, L.Dense(4, activation="softmax")(x))


MODELS = {"resnet8": _resnet8, "autoencoder": _autoencoder, "gesture1d": _gesture1d}


def build(name: str, out: Path) -> Path:
    """The int8 .tflite of one of MODELS (written to out/NAME.tflite)."""
    import tensorflow as tf
    import keras
    keras.utils.set_random_seed(0)      # (the same weights every run)
    m = MODELS[name](keras, keras.layers)
    rng = np.random.default_rng(0)
    shape = m.input_shape[1:]
    x = rng.standard_normal((64,) + shape).astype(np.float32)
    # one epoch on random targets: batch-norm statistics that are not the identity
    m.compile("adam", "mse")
    m.fit(x, rng.random((64,) + m.output_shape[1:]).astype(np.float32), epochs=1, batch_size=1, verbose=0)
    conv = tf.lite.TFLiteConverter.from_keras_model(m)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[k:k + 1]] for k in range(32))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    path = out / f"{name}.tflite"
    path.write_bytes(conv.convert())
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "unseen"), help="where the .tflite and .mote files go")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    args = ap.parse_args(argv)
    from motes import api
    from motes.m0 import bench as m0bench
    from motes.run.compare import compare, random_inputs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        if name not in MODELS:
            ap.error(f"--models: {name!r} is not one of {', '.join(MODELS)}")
        tfl = build(name, out)
        conv = api.convert(tfl)
        (out / f"{name}.mote").write_bytes(conv.data)
        r = compare(tfl.read_bytes(), conv.data, random_inputs(conv.model, 5, seed=1))
        b = m0bench.bench(conv.data)
        slow = ", ".join(f"#{i} {b['layers'][i]['op']}" for i in b["slow"]) or "-"
        rows.append((name, len(conv.data), b["macs"], r["mismatches"], r["elements"],
                     b["instructions"], b["instructions_per_mac"], slow))
    print(f"{'model':<12} {'.mote bytes':>11} {'MACs':>11} {'vs TFLM':>14} {'M0 instructions':>16} "
          f"{'per MAC':>8}  above 2x their op's best")
    for name, size, macs, bad, n, instr, ipm, slow in rows:
        print(f"{name:<12} {size:>11,} {macs:>11,} {f'{bad} of {n} differ':>14} {instr:>16,} {ipm:>8.2f}  {slow}")
    return 0 if all(r[3] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
