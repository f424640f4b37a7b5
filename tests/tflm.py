"""Test helpers: the bit-exactness oracle (TFLM's Python interpreter) and a
small Keras -> int8 .tflite converter for single-op test models."""
from __future__ import annotations

import os

import numpy as np


def tflm_run(model_path_or_bytes, inputs):
    """Run TFLM (tflite-micro reference kernels) once; returns the list of outputs."""
    from motes.run.oracle import TflmInterpreter
    if isinstance(model_path_or_bytes, (bytes, bytearray)):
        raw = bytes(model_path_or_bytes)
    else:
        with open(model_path_or_bytes, "rb") as f:
            raw = f.read()
    return TflmInterpreter(raw).run(inputs)


def keras_to_int8(model, calib: np.ndarray | list, per_channel: bool = True) -> bytes:
    """Full-integer int8 conversion (int8 in/out) with TensorFlow's converter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    calib = calib if isinstance(calib, list) else [calib]

    def rep():
        for i in range(len(calib[0])):
            yield [c[i:i + 1].astype(np.float32) for c in calib]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    if not per_channel:
        conv._experimental_disable_per_channel = True
    return conv.convert()
