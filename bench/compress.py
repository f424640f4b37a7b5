"""`motes compress` on scikit-learn's digits: the rows of each stage and a plot.

    .venv/bin/python bench/compress.py [--models mlp,cnn] [--epochs N] [--out bench/]

Models on the same data (examples/digits' split: a seeded, stratified fifth
held out):
- mlp: 64-300-100-10, the shape of Deep Compression's LeNet-300-100, trained
  30 epochs, then pruned to 90 % and clustered to 4 shared values per kernel
  (16 epochs each);
- cnn: the digits example's CNN (examples/digits/model.keras): 35 % of its
  filters removed (structured), then pruned to 50 % and clustered to 8 values;
- structured: the structured stage alone on the CNN, over three seeds;
- qat: the same CNN fine-tuned through int8 rounding;
- gesture: the gesture example's CNN (examples/gesture/model.keras) fine-tuned
  through int8 rounding, on its simulated people (train.py's split: 60 people
  to train, 15 others held out);
- distil: the CNN teaching a 64-60-20-10 MLP (a fifth of its MACs);
  distil_mlp: the MLP teaching a student at 0.3 of its width; each student
  distilled beside the same student trained alone on the labels with the
  same epochs and schedule, with and without the same mixup, over three seeds;
- lr_splits (not in the default list): the structured stage's learning-rate
  multiplier (1x against the default 3x) on other random splits of digits
  (--splits, never used to choose it), the unpruned CNN retrained on each
  split with examples/digits' recipe (issue #13's caveat).
Prints each stage's row (bytes, bits per weight, MACs, RAM, float and int8
accuracy, as the board computes it) and the compression of the packed
weights against their float32 size, and saves bench/compress_<model>.png.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from motes.learn import compress  # noqa: E402


def example(folder: str):
    """examples/<folder>/train.py as a module: the example's own split. (Every example has
    a train.py, some a data.py too: the ones imported before are dropped first.)"""
    for mod in ("train", "data"):
        sys.modules.pop(mod, None)
    path = str(ROOT / "examples" / folder)
    sys.path.insert(0, path)
    try:
        return importlib.import_module("train")
    finally:
        sys.path.remove(path)


def data():
    digits_train = example("digits")
    xtr, ytr, xte, yte = digits_train.load(0)
    f = lambda a: (a[..., None] / digits_train.LEVELS).astype(np.float32)   # noqa: E731
    return f(xtr), ytr, f(xte), yte


def gesture_data():
    g_train = example("gesture")
    g_data = g_train.data
    xtr, ytr, _ = g_data.make_dataset(g_train.TRAIN_PEOPLE, g_train.TRAIN_PER_CLASS, seed=0)
    xte, yte, _ = g_data.make_dataset(g_train.TEST_PEOPLE, g_train.TEST_PER_CLASS, seed=1000)
    return g_train.prepare(xtr), ytr, g_train.prepare(xte), yte


def mlp(xtr, ytr, epochs, hidden=(300, 100)):
    """An MLP on the 64 pixels, trained `epochs` (0: untrained)."""
    import keras
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Flatten()(inp)
    for n in hidden:
        h = keras.layers.Dense(n, activation="relu")(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    m = keras.Model(inp, out)
    if epochs:
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


def pct(v) -> str:
    return " ".join(f"{100 * a:.2f}" for a in v) + (f" (mean {100 * np.mean(v):.2f}, min {100 * np.min(v):.2f}, "
                                                    f"max {100 * np.max(v):.2f} %)")


def structured_seeds(xtr, ytr, xte, yte, epochs: int, seeds=(0, 1, 2, 3, 4)) -> None:
    """The digits CNN's structured stage alone over a few seeds (one digit is 0.28 points)."""
    rows = []
    for seed in seeds:
        res = compress.compress(ROOT / "examples" / "digits" / "model.keras", xtr, ytr, xte, yte,
                                structured_fraction=0.35, epochs=epochs, seed=seed)
        rows.append(res.stages)
    base = rows[0][0]
    print(f"structured 35 %, {16 * epochs} epochs, seeds {seeds}: MACs {base.macs:,} -> {rows[0][1].macs:,} "
          f"({base.macs / rows[0][1].macs:.2f}x fewer); unpruned float {100 * base.accuracy_float:.2f} %, "
          f"int8 {100 * base.accuracy_int8:.2f} %\n  float: {pct([r[1].accuracy_float for r in rows])}\n"
          f"  int8:  {pct([r[1].accuracy_int8 for r in rows])}")


def cnn_on_split(split: int, path: Path, validate: bool = False):
    """examples/digits' CNN trained by its own recipe (Adam 5e-3, 60 epochs, batch 32, seeded by
    the split) on load(split); saved at batch size 1 as train.py ships it. Returns the data.
    validate: the test digits are not used at all: a stratified fifth of the training part
    (seeded by the split) is held out instead, and the CNN trains on the rest."""
    import keras
    d = example("digits")
    xtr, ytr, xte, yte = d.load(split)
    if validate:
        from sklearn.model_selection import train_test_split
        xtr, xte, ytr, yte = train_test_split(xtr, ytr, test_size=d.TEST_FRACTION, random_state=split, stratify=ytr)
    keras.utils.set_random_seed(split)
    m = d.make_model(keras)
    m.compile(optimizer=keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy")
    m.fit(d.prepare(xtr), ytr, batch_size=32, epochs=60, verbose=0, shuffle=True)
    ship = d.make_model(keras, batch_size=1)
    ship.set_weights(m.get_weights())
    ship.save(path)
    return d.prepare(xtr), ytr, d.prepare(xte), yte


def lr_splits(epochs: int, splits, mults=(1.0, 3.0), seeds=(0,), validate: bool = False) -> None:
    """The structured stage (35 %, 16 x epochs) from mult x 1e-3 on digits splits other than
    examples/digits' (split 0, on whose test digits 3x was chosen): int8 accuracy per split.
    validate: measured on a fifth of each split's training part instead (cnn_on_split)."""
    import tempfile
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for split in splits:
            path = Path(tmp) / f"cnn_{split}.keras"
            xtr, ytr, xte, yte = cnn_on_split(split, path, validate)
            for mult in mults:
                for seed in seeds:
                    # the stage runs from 3 x lr: lr = mult / 3 x 1e-3 gives mult x 1e-3
                    res = compress.compress(path, xtr, ytr, xte, yte, structured_fraction=0.35,
                                            epochs=epochs, seed=seed, lr=mult * 1e-3 / 3)
                    base, st = res.stages[0], res.stages[1]
                    rows[split, mult, seed] = (base, st)
                    print(f"split {split} {mult:g}x seed {seed}: unpruned float {100 * base.accuracy_float:.2f} "
                          f"int8 {100 * base.accuracy_int8:.2f} %; structured float "
                          f"{100 * st.accuracy_float:.2f} int8 {100 * st.accuracy_int8:.2f} %", flush=True)
    print(f"\nstructured 35 %, {16 * epochs} epochs, splits {list(splits)}, seeds {list(seeds)}, int8 accuracy % on "
          f"{len(xte)} {'validation digits (a fifth of the training part)' if validate else 'test digits'}:")
    print("| split | unpruned | " + " | ".join(f"{m:g}x" for m in mults) + " |")
    for split in splits:
        b = rows[split, mults[0], seeds[0]][0]
        cells = [" / ".join(f"{100 * rows[split, m, s][1].accuracy_int8:.2f}" for s in seeds) for m in mults]
        print(f"| {split} | {100 * b.accuracy_int8:.2f} | " + " | ".join(cells) + " |")
    for m in mults:
        v = [rows[k][1].accuracy_int8 - rows[k][0].accuracy_int8 for k in rows if k[1] == m]
        print(f"{m:g}x: mean change from the unpruned model {100 * np.mean(v):+.2f} points "
              f"(min {100 * np.min(v):+.2f}, max {100 * np.max(v):+.2f})")
    if len(mults) > 1:
        d = [rows[s, mults[-1], e][1].accuracy_int8 - rows[s, mults[0], e][1].accuracy_int8
             for s in splits for e in seeds]
        print(f"{mults[-1]:g}x minus {mults[0]:g}x: " + " ".join(f"{100 * x:+.2f}" for x in d)
              + f" (mean {100 * np.mean(d):+.2f} points)")


def distil_vs_alone(name, teacher, student, xtr, ytr, xte, yte, out: Path, epochs: int, seeds=(0, 1, 2)) -> None:
    """student(): a fresh student, distilled (function matching, as `motes compress` does) and
    trained alone on the labels with the same epochs, cosine schedule and mixup, and alone
    without mixup, over a few seeds (one seed moves these by a point: 360 held-out digits)."""
    res = run(name, teacher, xtr, ytr, xte, yte, out, student=student(), epochs=epochs // 12)
    t_macs, s_macs = res["stages"][0]["macs"], res["stages"][-1]["macs"]
    distilled, alone, plain = [], [], []
    for seed in seeds:
        s = compress.distil(teacher, xtr, ytr, student=student(), epochs=epochs, seed=seed,
                            **compress.FUNCTION_MATCHING)
        distilled.append(compress.float_accuracy(s, xte, yte, "classify"))
        a = compress.distil(None, xtr, ytr, student=student(), epochs=epochs, seed=seed, mixup=True, cosine=True)
        alone.append(compress.float_accuracy(a, xte, yte, "classify"))
        p = compress.train_like(student(), xtr, ytr, "classify", epochs, lr=2e-3, seed=seed)
        plain.append(compress.float_accuracy(p, xte, yte, "classify"))
    print(f"{name}: teacher {100 * res['stages'][0]['accuracy_float']:.2f} %, {t_macs:,} MACs; student "
          f"{s_macs:,} MACs ({s_macs / t_macs:.2f} of the teacher's), {epochs} epochs, seeds {seeds}:\n"
          f"  distilled (function matching): {pct(distilled)}\n"
          f"  alone, labels, same mixup:     {pct(alone)}\n"
          f"  alone, labels, no mixup:       {pct(plain)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn,structured,qat,gesture,distil,distil_mlp")
    ap.add_argument("--epochs", type=int, default=8, help="fine-tuning epochs per stage")
    ap.add_argument("--out", default=str(ROOT / "bench"))
    ap.add_argument("--splits", default="1,2,3", help="lr_splits: digits split seeds (0 is examples/digits')")
    ap.add_argument("--mults", default="1,3", help="lr_splits: the structured stage's lr multipliers")
    ap.add_argument("--seeds", default="0", help="lr_splits: pruning seeds")
    ap.add_argument("--validate", action="store_true",
                    help="lr_splits: measure on a fifth of the training part, never the test digits")
    args = ap.parse_args()
    xtr, ytr, xte, yte = data()
    out = Path(args.out)
    for name in args.models.split(","):
        if name == "mlp":
            run("mlp", mlp(xtr, ytr, 30), xtr, ytr, xte, yte, out, prune=0.9, cluster=4, epochs=2 * args.epochs)
        elif name == "cnn":
            run("cnn", ROOT / "examples" / "digits" / "model.keras", xtr, ytr, xte, yte, out,
                structured_fraction=0.35, prune=0.5, cluster=8, epochs=args.epochs)
        elif name == "structured":
            structured_seeds(xtr, ytr, xte, yte, args.epochs)
        elif name == "lr_splits":
            lr_splits(args.epochs, [int(v) for v in args.splits.split(",")],
                      tuple(float(v) for v in args.mults.split(",")), [int(v) for v in args.seeds.split(",")],
                      args.validate)
        elif name == "qat":
            run("qat", ROOT / "examples" / "digits" / "model.keras", xtr, ytr, xte, yte, out,
                quantize_aware=True, epochs=args.epochs)
        elif name == "gesture":
            run("gesture", ROOT / "examples" / "gesture" / "model.keras", *gesture_data(), out,
                quantize_aware=True, epochs=args.epochs)
        elif name == "distil":
            import keras
            cnn = keras.models.load_model(ROOT / "examples" / "digits" / "model.keras", compile=False)
            distil_vs_alone("distil_cnn", cnn, lambda: mlp(xtr, ytr, 0, (60, 20)), xtr, ytr, xte, yte, out,
                            12 * args.epochs)
        elif name == "distil_mlp":
            big = mlp(xtr, ytr, 30)
            distil_vs_alone("distil_mlp", big, lambda: compress._widened(big, 0.3), xtr, ytr, xte, yte, out,
                            12 * args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
