"""Checks for the op-coverage model generator (tests/opmodels.py).

* every op motes supports appears in at least one generated model;
* every generated model loads and runs in the TFLM Python interpreter;
* per_channel=False really produces per-tensor weight quantization.
"""

import collections
import os
import pathlib
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # tests/: opmodels, tflm
import opmodels  # noqa: E402

REQUIRED_OPS = {
    "FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", "RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "ADD", "MUL",
    "MEAN", "CONCATENATION", "PAD", "RELU", "RELU6", "QUANTIZE", "DEQUANTIZE",
}


def _cache_dir(tmp_path_factory):
    env = os.environ.get("MOTES_OPMODELS_CACHE")
    if env:
        return pathlib.Path(env)
    return tmp_path_factory.mktemp("opmodels")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return _cache_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def built(cache_dir):
    t0 = time.time()
    paths = opmodels.build_all(cache_dir)
    print(f"\nbuilt {len(paths)} op models in {time.time() - t0:.1f}s")
    return paths


def test_specs_are_small():
    # Parameter count without converting: keep every model tiny.
    import keras
    for name, spec in opmodels.SPECS.items():
        keras.utils.set_random_seed(0)
        model = spec()
        assert model.inputs[0].shape[0] == 1, name
        assert model.count_params() < 50_000, (name, model.count_params())
        keras.backend.clear_session()


def test_every_op_is_covered(built):
    seen = collections.Counter()
    for name, path in built.items():
        ops = opmodels.ops_in(path)
        print(f"{name:24s} {dict(ops)}")
        seen.update(ops)
    missing = REQUIRED_OPS - set(seen)
    assert not missing, f"ops not produced by any model: {sorted(missing)}"


def test_requantize_is_int8_to_int8(built):
    """QUANTIZE appears both as float->int8 (floatio edge) and int8->int8."""
    kinds = set()
    for path in built.values():
        kinds |= opmodels.quantize_kinds(path)
    assert ("FLOAT32", "INT8") in kinds
    assert ("INT8", "INT8") in kinds


def test_floatio_edges(built):
    for name, path in built.items():
        ops = opmodels.ops_in(path)
        if name.endswith(opmodels.FLOATIO_SUFFIX):
            assert ops["QUANTIZE"] >= 1 and ops["DEQUANTIZE"] == 1, name
        else:
            assert ops["DEQUANTIZE"] == 0, name


def test_cache_reuse(built, cache_dir):
    name = next(iter(built))
    mtime = built[name].stat().st_mtime_ns
    again = opmodels.build(name, cache_dir)
    assert again == built[name]
    assert again.stat().st_mtime_ns == mtime


def test_per_tensor_weights(cache_dir):
    for name in ("conv_rgb_odd", "dwconv", "fc_mlp"):
        pc = opmodels.weight_scale_counts(opmodels.build(name, cache_dir))
        pt = opmodels.weight_scale_counts(
            opmodels.build(name, cache_dir, per_channel=False))
        assert [op for op, _ in pc] == [op for op, _ in pt]
        assert any(n > 1 for _, n in pc), (name, pc)
        assert all(n == 1 for _, n in pt), (name, pt)


def _run_tflm(path, seed=0):
    from tflite_micro import runtime
    it = runtime.Interpreter.from_file(str(path))
    rng = np.random.default_rng(seed)
    n_inputs = opmodels.num_inputs(path)
    assert n_inputs >= 1
    for k in range(n_inputs):
        det = it.get_input_details(k)
        shape, dtype = tuple(det["shape"]), np.dtype(det["dtype"])
        if dtype == np.int8:
            arr = rng.integers(-128, 128, size=shape, dtype=np.int8)
        else:
            arr = rng.normal(0.0, 1.0, size=shape).astype(dtype)
        it.set_input(arr, k)
    it.invoke()
    return it.get_output(0)


@pytest.mark.parametrize("name", sorted(opmodels.SPECS))
def test_runs_in_tflm(name, cache_dir):
    out = _run_tflm(opmodels.build(name, cache_dir))
    assert out.size > 0
    if name.endswith(opmodels.FLOATIO_SUFFIX):
        assert out.dtype == np.float32
    else:
        assert out.dtype == np.int8


@pytest.mark.parametrize("name", ["conv_rgb_odd", "dwconv", "fc_mlp",
                                  "conv_grouped"])
def test_per_tensor_runs_in_tflm(name, cache_dir):
    out = _run_tflm(opmodels.build(name, cache_dir, per_channel=False))
    assert out.dtype == np.int8
