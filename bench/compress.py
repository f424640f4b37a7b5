"""`motes compress` on scikit-learn's digits: the rows of each stage and a plot.

    .venv/bin/python bench/compress.py [--models mlp,cnn] [--epochs N] [--out bench/]

Two models on the same data (examples/digits' split: a seeded, stratified
fifth held out):
- mlp: 64-300-100-10, the shape of Deep Compression's LeNet-300-100, trained
  30 epochs, then pruned to 90 % and clustered to 4 shared values per kernel
  (16 epochs each);
- cnn: the digits example's CNN (examples/digits/model.keras): 35 % of its
  filters removed (structured), then pruned to 50 % and clustered to 8 values;
- qat: the same CNN fine-tuned through int8 rounding;
- distil: the same CNN teaching a half-width student, beside that student
  trained alone on the labels with the same number of epochs.
Prints each stage's row (bytes, bits per weight, MACs, RAM, float and int8
accuracy, as the board computes it) and the compression of the packed
weights against their float32 size, and saves bench/compress_<model>.png.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "examples" / "digits"))

from motes import compress  # noqa: E402


def data():
    import train as digits_train        # examples/digits/train.py: the example's own split
    xtr, ytr, xte, yte = digits_train.load(0)
    f = lambda a: (a[..., None] / digits_train.LEVELS).astype(np.float32)   # noqa: E731
    return f(xtr), ytr, f(xte), yte


def mlp(xtr, ytr, epochs):
    import keras
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(300, activation="relu")(h)
    h = keras.layers.Dense(100, activation="relu")(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    m = keras.Model(inp, out)
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    m.fit(xtr, ytr, epochs=epochs, batch_size=32, verbose=0)
    return m


def run(name, model, xtr, ytr, xte, yte, out: Path, **stages) -> dict:
    t0 = time.perf_counter()
    res = compress.compress(model, xtr, ytr, xte, yte, progress=lambda m: print("  " + m, file=sys.stderr),
                            **stages)
    secs = time.perf_counter() - t0
    n_weights = sum(int(np.prod(w.shape)) for layer, i in compress._kernels(res.model)
                    for w in [layer.weights[i]])
    print(f"\n{name}: {stages}, {secs:.0f} s")
    print(compress.format_table(res.stages))
    first, last = res.stages[0], res.stages[-1]
    packed = last.bits_per_weight * n_weights / 8
    print(f"packed weights {packed:,.0f} bytes against {4 * n_weights:,} of float32: "
          f"{4 * n_weights / packed:.1f}x smaller ({last.bits_per_weight:.2f} bits a weight); "
          f"int8 accuracy {100 * last.accuracy_int8:.2f} % against the float model's "
          f"{100 * first.accuracy_float:.2f} %; MACs {first.macs:,} -> {last.macs:,}")
    png = out / f"compress_{name}.png"
    compress.plot(res.stages, png)
    print(f"saved {png}")
    return {"stages": [s.row() for s in res.stages], "seconds": secs}


def distil_vs_alone(xtr, ytr, xte, yte, out: Path, epochs: int) -> None:
    import keras
    teacher = keras.models.load_model(ROOT / "examples" / "digits" / "model.keras", compile=False)
    res = run("distil", teacher, xtr, ytr, xte, yte, out, distil_width=0.5, epochs=epochs // 3)
    alone = compress._widened(teacher, 0.5)
    compress.train_like(alone, xtr, ytr, "classify", epochs, lr=2e-3, seed=0)
    acc = compress.float_accuracy(alone, xte, yte, "classify")
    student = res["stages"][-1]
    print(f"the same student trained alone ({epochs} epochs on the labels): float accuracy {100 * acc:.2f} %, "
          f"distilled: {100 * student['accuracy_float']:.2f} %")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,qat,distil")
    ap.add_argument("--epochs", type=int, default=8, help="fine-tuning epochs per stage")
    ap.add_argument("--out", default=str(ROOT / "bench"))
    args = ap.parse_args()
    xtr, ytr, xte, yte = data()
    out = Path(args.out)
    for name in args.models.split(","):
        if name == "mlp":
            run("mlp", mlp(xtr, ytr, 30), xtr, ytr, xte, yte, out, prune=0.9, cluster=4, epochs=2 * args.epochs)
        elif name == "cnn":
            run("cnn", ROOT / "examples" / "digits" / "model.keras", xtr, ytr, xte, yte, out,
                structured_fraction=0.35, prune=0.5, cluster=8, epochs=2 * args.epochs)
        elif name == "qat":
            run("qat", ROOT / "examples" / "digits" / "model.keras", xtr, ytr, xte, yte, out,
                quantize_aware=True, epochs=args.epochs)
        elif name == "distil":
            distil_vs_alone(xtr, ytr, xte, yte, out, 3 * args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
