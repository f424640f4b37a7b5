"""Writes lstm_island.tflite: a small Keras LSTM (unroll=True) converted to int8 whose
conversion left its first SPLIT in float32 (DEQUANTIZE -> SPLIT -> QUANTIZE).

TensorFlow's converter leaves such an island or not depending on its version and on what
it converted before in the same process, so the test (tests/host/test_ops_gather.py) reads
this file, made once, instead of converting: run with TensorFlow 2.21+,
`python tests/data/float_island/make.py`; it tries seeds until the island appears.
"""
import os
import pathlib
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3]))
from tests.tflm import keras_to_int8  # noqa: E402

import keras  # noqa: E402

OUT = pathlib.Path(__file__).with_name("lstm_island.tflite")


def main():
    for seed in range(50):
        keras.utils.set_random_seed(seed)
        x = keras.Input(shape=(4, 3), batch_size=1)
        y = keras.layers.Dense(2)(keras.layers.LSTM(4, unroll=True)(x))
        model = keras.Model(x, y)
        calib = np.random.default_rng(seed).normal(0, 1, size=(32, 4, 3)).astype(np.float32)
        data = keras_to_int8(model, calib)
        keras.backend.clear_session()
        from motes.compiler.tflite_reader import read_tflite
        ops = [op.opcode for op in read_tflite(data).operators]
        if "DEQUANTIZE" in ops:
            OUT.write_bytes(data)
            print(f"seed {seed}: {len(data)} bytes, ops {sorted(set(ops))}")
            return 0
    print("no seed gave a float32 island")
    return 1


if __name__ == "__main__":
    sys.exit(main())
