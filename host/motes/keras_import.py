"""Keras model + calibration data -> full-integer int8 .tflite, via TensorFlow's converter.

Needs the optional extra `motes[train]` (TensorFlow). The model is traced with
a batch size of 1 so every shape is static (Flatten becomes one RESHAPE) and
converted with int8 inputs and outputs; the result then takes the same path
as any int8 .tflite.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from .graph import ModelError


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ModelError("converting a Keras model needs TensorFlow: pip install 'motes[train]' "
                         "(or give an int8 .tflite, which needs no TensorFlow)") from e
    return tf


def is_keras_path(path: Path) -> bool:
    return path.suffix in (".keras", ".h5", ".hdf5") or (path.is_dir() and (path / "saved_model.pb").exists())


def load_calibration(path: Path) -> np.ndarray:
    """Calibration samples [N, ...] from .npy, .npz (key 'x' or the first array) or .csv."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"calibration data {path} not found")
    if path.suffix == ".npy":
        data = np.load(path, allow_pickle=False)
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if not z.files:
                raise ModelError(f"{path}: the .npz holds no arrays")
            data = z["x"] if "x" in z.files else z[z.files[0]]
    elif path.suffix == ".csv":
        rows = []
        with open(path, newline="") as f:
            for n, row in enumerate(csv.reader(f)):
                if not row:
                    continue
                try:
                    rows.append([float(v) for v in row])
                except ValueError:
                    if n == 0:
                        continue  # header line
                    raise ModelError(f"{path}: line {n + 1} has a value that is not a number") from None
        data = np.array(rows, dtype=np.float32)
    else:
        raise ModelError(f"calibration data {path}: use .npy, .npz or .csv")
    if data.ndim < 1 or len(data) == 0:
        raise ModelError(f"{path}: no calibration samples")
    return data.astype(np.float32)


def keras_to_tflite(model_path: Path, calibration: np.ndarray, per_channel: bool = True) -> bytes:
    tf = _tf()
    model_path = Path(model_path)
    if model_path.is_dir():
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model_path))
        input_shape = None
    else:
        import keras
        try:
            model = keras.models.load_model(model_path, compile=False)
        except Exception as e:
            raise ModelError(f"cannot load Keras model {model_path}: {e}") from e
        if len(model.inputs) != 1:
            raise ModelError(f"{model_path}: motes converts models with one input, this one has {len(model.inputs)}")
        input_shape = tuple(model.inputs[0].shape[1:])
        if any(d is None for d in input_shape):
            raise ModelError(f"{model_path}: input shape {input_shape} has unknown sizes; give the model "
                             "a fixed input shape (keras.Input(shape=...))")
        # A batch size of 1 makes every shape static: Flatten becomes one RESHAPE.
        inp = keras.Input(batch_shape=(1,) + input_shape)
        fixed = keras.Model(inp, model(inp))
        converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    if input_shape is not None:
        n_in = int(np.prod(input_shape))
        if calibration[0].size != n_in:
            raise ModelError(f"calibration samples have {calibration[0].size} values each; the model input "
                             f"{input_shape} needs {n_in}")
        calibration = calibration.reshape((-1,) + input_shape)

    def representative():
        for sample in calibration[:500]:
            yield [sample[None].astype(np.float32)]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    try:
        return converter.convert()
    except Exception as e:
        raise ModelError(f"TensorFlow could not convert {model_path} to int8: {str(e).splitlines()[0]}") from e
