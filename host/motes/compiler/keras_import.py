"""Keras model + calibration data -> full-integer int8 .tflite, via TensorFlow's converter.

Needs the optional extra `motes[train]` (TensorFlow). The model is traced with
a batch size of 1 so every shape is static (Flatten becomes one RESHAPE) and
converted with int8 inputs and outputs; the result then takes the same path
as any int8 .tflite.
"""
from __future__ import annotations

import contextlib
import csv
import os
import sys
import tempfile
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


@contextlib.contextmanager
def _quiet():
    """TensorFlow and Keras print export chatter on fds 1/2; keep it, show it only on failure."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            log.seek(0)
            sys.stderr.write(log.read().decode("utf-8", "replace")[-4000:])
            raise
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


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
    with _quiet():
        return _keras_to_tflite(model_path, calibration, per_channel)


def _keras_to_tflite(model_path: Path, calibration: np.ndarray, per_channel: bool) -> bytes:
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
