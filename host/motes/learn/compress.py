"""Make a trained Keras model small: `motes compress` (docs/COMPRESS.md).

Stages, each optional, each followed by fine-tuning on the training data, in
this order when combined:

- structured pruning: whole filters and units with the smallest L1 norms
  removed and a smaller model rebuilt (cuts MACs and the arena too), then
  fine-tuned by matching the unpruned model's function (below);
- distil (Hinton et al. 2015): the input model teaches a student (its own
  architecture with `width` times the filters and units, or a model you pass)
  by "function matching" (Beyer et al. 2022): the teacher's outputs on the
  same mixed-up inputs, a long cosine schedule;
- prune (Zhu & Gupta 2017): unstructured magnitude pruning of every Dense /
  Conv2D / DepthwiseConv2D kernel to a target sparsity, on a polynomial
  schedule over the fine-tuning steps; the masks hold through fine-tuning and
  the zeros reach the .mote's zero-run codec;
- cluster (Han et al. 2016, weight sharing): at most K shared values per
  kernel, k-means in 1-D, the shared values fine-tuned (each batch's update
  moves every weight, then each weight goes back to its cluster's mean); the
  model is then quantized per tensor, so each int8 kernel holds at most K
  distinct values and Huffman coding takes it to about log2 K bits a weight.

- quantization-aware training: fine-tuning through int8 rounding of weights
  (per channel) and activations (moving min/max), straight-through
  gradients; the weights then go back into the model for the usual
  conversion.

After every stage one row: .mote bytes, bits per weight, MACs, peak RAM
(resident and streaming, as `motes inspect` computes it), float accuracy
(Keras) and int8 accuracy as the board computes it (the bit-exact executor),
on the validation data. Written for Keras 3 with masks and weight projection
of its own: tensorflow-model-optimization needs tf-keras (Keras 2) and
switches a whole process to it (docs/COMPRESS.md says more).
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..compiler.graph import ModelError

KERNEL_LAYERS = ("Dense", "Conv2D", "DepthwiseConv2D", "Conv1D", "SeparableConv2D")


@dataclass
class Stage:
    name: str
    bytes: int
    bits_per_weight: float
    macs: int
    peak_ram_resident: int
    peak_ram_streaming: int
    accuracy_float: float
    accuracy_int8: float
    sparsity: float = 0.0
    distinct_max: int = 0          # most distinct int8 values in one weight tensor
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "bytes", "bits_per_weight", "macs", "peak_ram_resident",
                                           "peak_ram_streaming", "accuracy_float", "accuracy_int8",
                                           "sparsity", "distinct_max")}
        d.update(self.extra)
        return d


@dataclass
class Result:
    stages: list[Stage]
    model: object                  # the last Keras model
    mote: bytes                    # its .mote
    tflite: bytes


def _keras():
    from ..compiler.keras_import import _tf
    _tf()
    import keras
    return keras


def _kernels(model):
    """(layer, index of the kernel in layer.weights) of every prunable kernel."""
    out = []
    for layer in model.layers:
        if type(layer).__name__ in KERNEL_LAYERS:
            for i, w in enumerate(layer.weights):
                if "kernel" in w.path.split("/")[-1]:
                    out.append((layer, i))
    return out


def _task(model, y) -> str:
    return "regress" if int(np.prod(model.outputs[0].shape[1:])) == 1 else "classify"


def _compile(model, task, lr):
    keras = _keras()
    loss = "mse" if task == "regress" else (
        "sparse_categorical_crossentropy" if _ends_in_softmax(model) else
        keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss,
                  metrics=None if task == "regress" else ["accuracy"])


def _ends_in_softmax(model) -> bool:
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    return getattr(act, "__name__", "") == "softmax" or type(last).__name__ == "Softmax"


def float_accuracy(model, x, y, task) -> float:
    out = np.asarray(model.predict(x, verbose=0, batch_size=256)).reshape(len(x), -1)
    if task == "regress":
        return float(np.mean(np.abs(out.ravel() - np.asarray(y, np.float64).ravel())))
    return float(np.mean(out.argmax(axis=1) == np.asarray(y).ravel()))


# ---- the stages -------------------------------------------------------------

class _Pruner:
    """Magnitude masks on a polynomial schedule: s(t) = s (1 - (1 - t/T)^3)."""

    def __init__(self, model, sparsity, steps):
        self.kernels = _kernels(model)
        self.sparsity, self.steps, self.t = sparsity, max(1, steps), 0

    def level(self) -> float:
        f = min(1.0, self.t / (0.8 * self.steps))      # reach the target with a fifth left to recover
        return self.sparsity * (1 - (1 - f) ** 3)

    def apply(self, final=False):
        s = self.sparsity if final else self.level()
        for layer, i in self.kernels:
            w = layer.weights[i]
            v = np.asarray(w.numpy())
            k = int(round(s * v.size))
            if k:
                cut = np.partition(np.abs(v).ravel(), k - 1)[k - 1]
                mask = np.abs(v) > cut
                # ties at the cut: keep exactly size - k
                if mask.sum() < v.size - k:
                    idx = np.flatnonzero(np.abs(v).ravel() == cut)[: v.size - k - int(mask.sum())]
                    mask.ravel()[idx] = True
                w.assign(v * mask)
        self.t += 1


def _cluster_tensor(v: np.ndarray, k: int, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """1-D k-means with linear initialisation (Han et al.): (centroids, label of each weight).
    Zeros stay a cluster of their own, so pruned weights remain zero."""
    flat = v.ravel()
    nz = flat != 0
    has_zero = not nz.all()
    kk = max(1, k - (1 if has_zero else 0))
    vals = flat[nz] if nz.any() else flat
    cent = np.linspace(vals.min(), vals.max(), kk) if len(vals) else np.zeros(1)
    for _ in range(iters):
        lab = np.abs(vals[:, None] - cent[None, :]).argmin(axis=1)
        for j in range(len(cent)):
            if (lab == j).any():
                cent[j] = vals[lab == j].mean()
    if has_zero:
        cent = np.concatenate([[0.0], cent])
    labels = np.abs(flat[:, None] - cent[None, :]).argmin(axis=1)
    if has_zero:
        labels[~nz] = 0
        labels[nz & (labels == 0)] = 1 + np.abs(flat[nz & (labels == 0)][:, None] - cent[None, 1:]).argmin(axis=1)
    return cent, labels


class _Clusterer:
    """Weight sharing: each kernel's weights are their cluster's mean after every batch."""

    def __init__(self, model, k):
        self.k = k
        self.labels = {}
        for layer, i in _kernels(model):
            v = np.asarray(layer.weights[i].numpy())
            cent, lab = _cluster_tensor(v, k)
            zero = bool((v == 0).any())         # cluster 0 is the pruned zeros: it stays 0
            self.labels[(id(layer), i)] = (layer, i, lab.reshape(v.shape), len(cent), zero)
            layer.weights[i].assign(cent[lab].reshape(v.shape).astype(v.dtype))

    def apply(self, final=False):
        for layer, i, lab, n, zero in self.labels.values():
            w = layer.weights[i]
            v = np.asarray(w.numpy())
            means = np.bincount(lab.ravel(), weights=v.ravel(), minlength=n)
            counts = np.maximum(np.bincount(lab.ravel(), minlength=n), 1)
            cent = means / counts
            if zero:
                cent[0] = 0.0
            w.assign(cent[lab].astype(v.dtype))


def _fit(model, x, y, task, epochs, lr, batch, hooks, progress, label, seed):
    keras = _keras()
    _compile(model, task, lr)

    class Hook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_i, logs=None):
            for h in hooks:
                h.apply()

        def on_epoch_end(self, epoch, logs=None):
            if progress:
                loss = (logs or {}).get("loss", float("nan"))
                progress(f"{label}: epoch {epoch + 1}/{epochs}, loss {loss:.4f}")

    keras.utils.set_random_seed(seed)
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=[Hook()], shuffle=True)
    for h in hooks:
        h.apply(final=True)


def _widened(teacher, width: float):
    """The teacher's architecture with `width` times the filters and units (not the output layer)."""
    keras = _keras()
    cfg = teacher.get_config()
    last = teacher.layers[-1].name
    for layer in cfg["layers"]:
        layer.pop("build_config", None)        # the teacher's shapes: built anew
        c = layer["config"]
        if layer["config"].get("name") == last:
            continue
        for key in ("filters", "units"):
            if key in c:
                c[key] = max(1, int(round(c[key] * width)))
    return keras.Model.from_config(cfg)


_CHAIN_LAYERS = ("InputLayer", "Conv2D", "DepthwiseConv2D", "Dense", "MaxPooling2D", "AveragePooling2D",
                 "GlobalAveragePooling2D", "Flatten", "Dropout", "BatchNormalization", "ReLU", "Activation")


def structured(model, fraction: float):
    """A smaller model: each Conv2D / Dense but the last keeps the (1 - fraction) of its
    filters or units with the largest L1 norms; the layers after it lose the matching
    inputs (through depthwise, batch-norm, pooling and Flatten). For chains of layers."""
    keras = _keras()
    cfg = model.get_config()
    names = [c["name"] for c in cfg["layers"]]
    for k, c in enumerate(cfg["layers"]):
        if c["class_name"] not in _CHAIN_LAYERS:
            raise ModelError(f"structured pruning takes chains of {', '.join(_CHAIN_LAYERS[1:])}; layer "
                             f"{c['name']} is a {c['class_name']}")
        if k:
            nodes = c.get("inbound_nodes") or []
            src = [a["config"]["keras_history"][0] for n in nodes for a in n.get("args", ())
                   if isinstance(a, dict) and a.get("class_name") == "__keras_tensor__"]
            if src != [names[k - 1]]:
                raise ModelError(f"structured pruning takes a chain of layers; {c['name']} does not "
                                 "follow the layer before it alone")
    layers = {layer.name: layer for layer in model.layers}
    with_kernel = [c["name"] for c in cfg["layers"] if c["class_name"] in ("Conv2D", "Dense")]
    last = with_kernel[-1] if with_kernel else None
    kept = None                 # the channels the current tensor keeps, in its original numbering
    flat = None                 # after Flatten: (positions, channels) of what it flattened
    weights = {}
    for c in cfg["layers"]:
        layer, kind = layers[c["name"]], c["class_name"]
        w = [np.asarray(v) for v in layer.get_weights()]
        if kind in ("Conv2D", "Dense"):
            if kept is not None:
                if kind == "Conv2D":
                    w[0] = w[0][:, :, kept, :]
                elif flat is not None:
                    pos, ch = flat
                    w[0] = w[0][[p * ch + k for p in range(pos) for k in kept]]
                else:
                    w[0] = w[0][kept]
            flat = None
            if c["name"] != last:
                out = w[0].shape[-1]
                n = max(1, int(round(out * (1 - fraction))))
                norms = np.abs(w[0]).reshape(-1, out).sum(axis=0)
                kept = sorted(np.argsort(-norms, kind="stable")[:n].tolist())
                w[0] = w[0][..., kept]
                if len(w) > 1:
                    w[1] = w[1][kept]
                c["config"]["filters" if kind == "Conv2D" else "units"] = n
            else:
                kept = None
        elif kind == "DepthwiseConv2D" and kept is not None:
            m = w[0].shape[3]
            w[0] = w[0][:, :, kept, :]
            if len(w) > 1:
                w[1] = w[1].reshape(-1, m)[kept].ravel()
            kept = [k * m + j for k in kept for j in range(m)]
        elif kind == "BatchNormalization" and kept is not None:
            w = [v[kept] for v in w]
        elif kind == "Flatten":
            shape = tuple(int(d) for d in layer.input.shape[1:])
            flat = (int(np.prod(shape[:-1])), shape[-1]) if kept is not None else None
        weights[c["name"]] = w
        c.pop("build_config", None)
    small = keras.Model.from_config(cfg)
    for layer in small.layers:
        if weights.get(layer.name):
            layer.set_weights(weights[layer.name])
    return small


def _qat_classes():
    """Dense, Conv2D and DepthwiseConv2D that train through int8 rounding: the kernel
    fake-quantized per output channel (symmetric, -127..127, as TFLite quantizes
    weights) and the output fake-quantized to 8 bits over its moving min/max (as
    the int8 activations are); gradients pass straight through the rounding."""
    keras = _keras()
    import tensorflow as tf

    def fq_kernel(k, depthwise=False):
        shape = tf.shape(k)
        if depthwise:                   # (kh, kw, C, m): output channels are C * m
            k = tf.reshape(k, (shape[0], shape[1], -1))
        m = tf.maximum(tf.reduce_max(tf.abs(tf.reshape(k, (-1, tf.shape(k)[-1]))), axis=0), 1e-8)
        q = tf.quantization.fake_quant_with_min_max_vars_per_channel(k, -m, m, num_bits=8, narrow_range=True)
        return tf.reshape(q, shape) if depthwise else q

    class _Q:
        # mixed in before the Keras layer: its build, then two range variables;
        # its call with the fake-quantized kernel (_apply: the layer's own op)
        depthwise = False

        def build(self, input_shape):
            super().build(input_shape)
            self.a_min = self.add_weight(shape=(), initializer="zeros", trainable=False, name="qat_min")
            self.a_max = self.add_weight(shape=(), initializer="zeros", trainable=False, name="qat_max")

        def call(self, x, training=None):
            y = self._apply(x, fq_kernel(self.kernel, self.depthwise))
            if self.use_bias:
                y = y + self.bias
            y = self.activation(y)
            if training:
                lo, hi = tf.reduce_min(y), tf.reduce_max(y)
                fresh = tf.logical_and(tf.equal(self.a_min, 0.0), tf.equal(self.a_max, 0.0))
                self.a_min.assign(tf.where(fresh, lo, 0.99 * self.a_min + 0.01 * lo))
                self.a_max.assign(tf.where(fresh, hi, 0.99 * self.a_max + 0.01 * hi))
            lo = tf.minimum(self.a_min, 0.0)
            hi = tf.maximum(self.a_max, lo + 1e-6)
            return tf.quantization.fake_quant_with_min_max_vars(y, lo, hi, num_bits=8)

    class QDense(_Q, keras.layers.Dense):
        def _apply(self, x, k):
            return keras.ops.matmul(x, k)

    class QConv2D(_Q, keras.layers.Conv2D):
        def _apply(self, x, k):
            return keras.ops.conv(x, k, strides=self.strides, padding=self.padding,
                                  data_format=self.data_format, dilation_rate=self.dilation_rate)

    class QDepthwiseConv2D(_Q, keras.layers.DepthwiseConv2D):
        depthwise = True

        def _apply(self, x, k):
            return keras.ops.depthwise_conv(x, k, strides=self.strides, padding=self.padding,
                                            data_format=self.data_format, dilation_rate=self.dilation_rate)

    return {"Dense": QDense, "Conv2D": QConv2D, "DepthwiseConv2D": QDepthwiseConv2D}


def qat(model, x, y, task, epochs=8, lr=2e-4, batch=32, progress=None, seed=0):
    """Quantization-aware fine-tuning: a twin of the model whose layers see int8
    rounding (_qat_classes) is trained, and its weights go back into the model,
    which is then quantized as usual (post-training, with calibration)."""
    keras = _keras()
    classes = _qat_classes()
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D" and getattr(layer, "groups", 1) != 1:
            raise ModelError(f"quantization-aware training: layer {layer.name} is a grouped Conv2D, "
                             "which this stage does not take")

    def clone(layer):
        cls = classes.get(type(layer).__name__)
        return cls.from_config(layer.get_config()) if cls else layer.__class__.from_config(layer.get_config())
    twin = keras.models.clone_model(model, clone_function=clone)
    for src, dst in zip(model.layers, twin.layers):
        w = src.get_weights()
        if w:
            dst.set_weights(w + dst.get_weights()[len(w):])
    _fit(twin, x, y, task, epochs, lr, batch, [], progress, "qat", seed)
    for src, dst in zip(model.layers, twin.layers):
        n = len(src.get_weights())
        if n:
            src.set_weights(dst.get_weights()[:n])
    return model


# "Function matching" (Beyer et al. 2022, "Knowledge distillation: a good teacher is patient
# and consistent"): the student matches the teacher's outputs alone (no labels, temperature
# 1) on the same mixed-up inputs, with a cosine decay over a long schedule.
FUNCTION_MATCHING = dict(alpha=0.0, temperature=1.0, mixup=True, cosine=True)


def distil(teacher, x, y, student=None, width=0.5, temperature=4.0, alpha=0.3, epochs=20, lr=2e-3,
           batch=32, mixup=False, cosine=False, progress=None, seed=0, label="distil"):
    """Train a student on the teacher's outputs mixed with the labels. Classifiers:
    loss = alpha * CE(y, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T)
    (Hinton et al. 2015); regression: alpha * MSE(y) + (1 - alpha) * MSE(teacher).
    cosine: the learning rate decays on a cosine over the epochs. mixup: each batch is
    blended with a shuffled copy of itself (weights from Beta(1, 1)), labels
    alike, and the teacher labels the blend: the teacher's function is matched
    on inputs between the samples too (Beyer et al. 2022, "a good teacher is
    patient and consistent"; FUNCTION_MATCHING). teacher=None: the student on the
    labels alone (alpha 1), the baseline distillation must beat with the same
    epochs, schedule and mixup."""
    keras = _keras()
    import tensorflow as tf
    keras.utils.set_random_seed(seed)
    student = student if student is not None else _widened(teacher, width)
    if teacher is None:
        alpha = 1.0
    task = _task(teacher if teacher is not None else student, y)
    classify = task == "classify"
    n_out = int(np.prod(student.outputs[0].shape[1:]))
    steps = epochs * -(-len(x) // batch)
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, max(1, steps)) if cosine else lr)

    @tf.function(reduce_retracing=True)
    def step(xb, yb, lam, perm):
        if mixup:
            shape = tf.concat([tf.shape(lam), tf.ones(tf.rank(xb) - 1, tf.int32)], 0)
            xb = tf.reshape(lam, shape) * xb + tf.reshape(1 - lam, shape) * tf.gather(xb, perm)
            yb = lam[:, None] * yb + (1 - lam[:, None]) * tf.gather(yb, perm)
        t_out = t_logits(xb, training=False) if alpha < 1 else None    # (_logits, below)
        with tf.GradientTape() as tape:
            s_out = s_logits(xb, training=True)
            if classify:
                hard = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(yb, s_out))
            else:
                s_out = tf.reshape(s_out, tf.shape(yb))
                hard = tf.reduce_mean(tf.square(s_out - yb))
            loss = alpha * hard
            if alpha < 1:
                if classify:                # cross-entropy to the soft targets: KL up to a constant
                    soft = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
                        tf.nn.softmax(t_out / temperature), s_out / temperature)) * temperature ** 2
                else:
                    soft = tf.reduce_mean(tf.square(s_out - tf.reshape(t_out, tf.shape(yb))))
                loss += (1 - alpha) * soft
        grads = tape.gradient(loss, student.trainable_variables)
        opt.apply_gradients(zip(grads, student.trainable_variables))
        return loss

    with _logits(*[m for m in (teacher, student) if m is not None]) as out:
        t_logits, s_logits = out if teacher is not None else (None, out[0])
        rng = np.random.default_rng(seed)
        xs = tf.constant(np.asarray(x, np.float32))
        y = np.asarray(y)
        ys = tf.constant(np.eye(n_out, dtype=np.float32)[y.astype(int).ravel()] if classify
                         else y.reshape(len(y), -1).astype(np.float32))
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            total = 0.0
            for b0 in range(0, len(x), batch):
                idx = order[b0:b0 + batch]
                lam = rng.beta(1.0, 1.0, size=len(idx)).astype(np.float32)
                loss = step(tf.gather(xs, idx), tf.gather(ys, idx), tf.constant(lam),
                            tf.constant(rng.permutation(len(idx)).astype(np.int32)))
                total += float(loss) * len(idx)
            if progress:
                progress(f"{label}: epoch {epoch + 1}/{epochs}, loss {total / len(x):.4f}")
    return student


@contextmanager
def _logits(*models):
    """The models up to their logits while the block runs: a classifier that ends in a
    softmax gives probabilities, whose logs lose every class below the float floor,
    and at temperature T the soft targets live there. A last layer with a softmax
    activation computes without it meanwhile (the same weights); a Softmax layer is
    left out."""
    keras = _keras()
    saved, out = [], []
    for m in models:
        last = m.layers[-1]
        if type(last).__name__ == "Softmax":
            m = keras.Model(m.inputs, last.input)
        elif getattr(getattr(last, "activation", None), "__name__", "") == "softmax":
            saved.append((last, last.activation))
            last.activation = keras.activations.linear
        out.append(m)
    try:
        yield out
    finally:
        for layer, act in saved:
            layer.activation = act


def train_like(teacher_or_student, x, y, task, epochs, lr=2e-3, batch=32, seed=0, progress=None, label="train"):
    """Train a model from scratch on the labels alone (the baseline distillation must beat)."""
    _fit(teacher_or_student, x, y, task, epochs, lr, batch, [], progress, label, seed)
    return teacher_or_student


# ---- measuring a stage -----------------------------------------------------------

def _measure(name, model, x_cal, xv, yv, task, per_channel, meta=None, title="model") -> tuple[Stage, bytes, bytes]:
    from .. import api
    from ..run import report
    from .evaluate import _class_ids
    from ..mote import from_bytes
    from ..run.executor import Executor
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{title}.keras"         # (the .mote's model name)
        model.save(path)
        cal = Path(tmp) / "calib.npy"
        np.save(cal, x_cal[:300].astype(np.float32))
        conv = api.convert(path, calibration=cal, per_channel=per_channel, meta=meta)
    mote = conv.data
    m = from_bytes(mote)
    info = report.summary(m, len(mote), len(conv.tflite))
    t_in, t_out = m.tensors[m.inputs[0]], m.tensors[m.outputs[0]]
    ex = Executor(m)
    xq = api.quantize_input(xv.astype(np.float32), t_in.scale, t_in.zero_point)
    outs = np.stack([ex.run([q.reshape(t_in.shape)])[0].ravel() for q in xq])
    if task == "regress":
        f = api.dequantize(outs, t_out.scale, t_out.zero_point).ravel()
        acc8 = float(np.mean(np.abs(f - np.asarray(yv, np.float64).ravel())))
    else:
        labels = (meta or {}).get("labels")
        acc8 = float(np.mean(outs.argmax(axis=1) == _class_ids(np.asarray(yv), outs.shape[1], labels, "val")))
    accf = float_accuracy(model, xv, yv, task)
    weights = [layer.consts["weights"] for layer in m.layers if "weights" in layer.consts]
    total = sum(w.size for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    distinct = max((len(np.unique(w)) for w in weights), default=0)
    packed = info["weights_packed_bytes"]
    st = Stage(name=name, bytes=len(mote), bits_per_weight=round(8 * packed / total, 3) if total else 0.0,
               macs=int(info["macs"]), peak_ram_resident=int(info["peak_ram_resident"]),
               peak_ram_streaming=int(info["peak_ram_streaming"]), accuracy_float=accf, accuracy_int8=acc8,
               sparsity=round(zeros / total, 4) if total else 0.0, distinct_max=int(distinct))
    return st, mote, conv.tflite


# ---- the pipeline -------------------------------------------------------------------

def compress(model, x, y, x_val=None, y_val=None, prune: float | None = None, cluster: int | None = None,
             distil_width: float | None = None, student=None, structured_fraction: float | None = None,
             quantize_aware: bool = False, epochs: int = 8, lr: float = 1e-3,
             batch: int = 32, seed: int = 0, meta: dict | None = None, progress=None,
             keep_stages: bool = False) -> Result:
    """Run the chosen stages on a Keras model (or a .keras path); returns every stage's row,
    the last model and its .mote. x, y: training data; x_val, y_val: what the rows are
    measured on (default: a seeded fifth of x, y held out). meta: what `motes convert
    --meta/--labels` puts in the .mote (labels, preprocessing); keep_stages: the stage table
    goes into its meta too (with_stages)."""
    keras = _keras()
    title = Path(model).stem if isinstance(model, (str, Path)) else "model"
    if isinstance(model, (str, Path)):
        p = Path(model)
        if not p.exists():
            raise ModelError(f"{p} not found")
        model = keras.models.load_model(p, compile=False)
    if prune is not None and not 0 < prune < 1:
        raise ModelError(f"--prune {prune}: give the fraction of weights to zero, between 0 and 1 (e.g. 0.8)")
    if cluster is not None and not 2 <= cluster <= 256:
        raise ModelError(f"--cluster {cluster}: give the number of shared values per kernel, 2 to 256")
    if structured_fraction is not None and not 0 < structured_fraction < 1:
        raise ModelError(f"--structured {structured_fraction}: give the fraction of filters and units to "
                         "remove, between 0 and 1 (e.g. 0.5)")
    if isinstance(student, (str, Path)):
        if not Path(student).exists():
            raise ModelError(f"--student {student}: not found")
        student = keras.models.load_model(student, compile=False)
    if student is not None and [tuple(t.shape[1:]) for t in (student.inputs[0], student.outputs[0])] != [
            tuple(t.shape[1:]) for t in (model.inputs[0], model.outputs[0])]:
        raise ModelError(f"--student: takes {tuple(student.inputs[0].shape[1:])} and gives "
                         f"{tuple(student.outputs[0].shape[1:])}; the model takes "
                         f"{tuple(model.inputs[0].shape[1:])} and gives {tuple(model.outputs[0].shape[1:])}")
    if distil_width is not None and not 0 < distil_width <= 1:
        raise ModelError(f"--student-width {distil_width}: give a fraction of the teacher's width, e.g. 0.5")
    x = np.asarray(x, dtype=np.float32)
    n_in = int(np.prod(model.inputs[0].shape[1:]))
    if x[0].size != n_in:
        raise ModelError(f"--data: each sample has {x[0].size} values; the model takes {n_in} "
                         f"(input shape {tuple(model.inputs[0].shape[1:])})")
    x = x.reshape((len(x),) + tuple(model.inputs[0].shape[1:]))
    y = np.asarray(y)
    if x_val is None:
        idx = np.random.default_rng(seed).permutation(len(x))
        cut = len(x) // 5
        x_val, y_val, x, y = x[idx[:cut]], y[idx[:cut]], x[idx[cut:]], y[idx[cut:]]
    else:
        x_val = np.asarray(x_val, dtype=np.float32).reshape((len(x_val),) + x.shape[1:])
    task = _task(model, y)
    stages: list[Stage] = []
    n_steps = 1 + sum(v is not None for v in (prune, cluster, distil_width, structured_fraction)) + (
        student is not None and distil_width is None) + bool(quantize_aware)

    def say(msg):
        if progress:
            progress(msg)

    def measure(name, m, per_channel=True):
        say(f"stage {len(stages) + 1} of {n_steps}: {name}: converting to int8 and measuring")
        st, mote, tfl = _measure(name, m, x, x_val, y_val, task, per_channel, meta, title)
        stages.append(st)
        return mote, tfl

    mote, tfl = measure("baseline", model)
    keras.utils.set_random_seed(seed)       # the models built below (their dropout seeds) follow --seed
    if distil_width is not None or student is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: distillation")
        # function matching, 12 x epochs (docs/COMPRESS.md: it helps most where the teacher
        # is well ahead of what the student learns alone)
        model = distil(model, x, y, student=student, width=distil_width or 0.5, epochs=12 * epochs,
                       **FUNCTION_MATCHING, progress=progress, seed=seed)
        mote, tfl = measure("distil", model)
    if structured_fraction is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: removing {structured_fraction:.0%} of the filters and units")
        # fine-tuned by the model it came from: its function matched on mixed-up inputs, a long
        # schedule from 3 x the learning rate (the rebuilt model is far from a minimum; 16 x
        # epochs: 4 x, labels mixed in or lr itself came out lower, lr itself also on 11 digits
        # splits the choice never saw; docs/COMPRESS.md)
        model = distil(model, x, y, student=structured(model, structured_fraction), epochs=16 * epochs,
                       lr=3 * lr, batch=batch, **FUNCTION_MATCHING, progress=progress, seed=seed,
                       label="structured")
        mote, tfl = measure("structured", model)
    if prune is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: pruning to {prune:.0%}")
        steps = epochs * int(np.ceil(len(x) / batch))
        pr = _Pruner(model, prune, steps)
        _fit(model, x, y, task, epochs, lr, batch, [pr], progress, "prune", seed)
        mote, tfl = measure("prune", model)
    if quantize_aware:
        if cluster is not None:
            raise ModelError("--qat and --cluster: clustering quantizes per tensor to keep K values; "
                             "use one of them")
        say(f"stage {len(stages) + 1} of {n_steps}: quantization-aware training")
        hooks = [_Pruner(model, prune, 1)] if prune is not None else []
        model = qat(model, x, y, task, epochs=epochs, lr=lr / 4, batch=batch, progress=progress, seed=seed)
        for h in hooks:                 # pruned weights stay zero
            h.apply(final=True)
        mote, tfl = measure("qat", model)
    if cluster is not None:
        say(f"stage {len(stages) + 1} of {n_steps}: clustering to {cluster} shared values per kernel")
        cl = _Clusterer(model, cluster)
        _fit(model, x, y, task, max(2, epochs // 2), lr / 2, batch, [cl], progress, "cluster", seed)
        # per-tensor int8: K shared floats are at most K int8 values per tensor
        mote, tfl = measure("cluster", model, per_channel=False)
    return Result(stages, model, with_stages(mote, stages) if keep_stages else mote, tfl)


STAGE_COLUMNS = ("name", "bytes", "bits_per_weight", "macs", "peak_ram_resident", "peak_ram_streaming",
                 "sparsity", "accuracy_float", "accuracy_int8")


def with_stages(mote: bytes, stages: list[Stage]) -> bytes:
    """The .mote with the stage table in its meta (`compress`: columns and rows), for
    `motes report`. About 50 bytes a stage, in the file and in the board's RAM (the
    runtime reads the meta whole), so only when asked (--keep-stages)."""
    from ..mote import from_bytes, to_bytes
    m = from_bytes(mote)
    rows = [[round(v, 5) if isinstance(v, float) else v for v in (s.row()[k] for k in STAGE_COLUMNS)]
            for s in stages]
    m.meta = dict(m.meta, compress={"cols": list(STAGE_COLUMNS), "rows": rows})
    return to_bytes(m)


def format_table(stages: list[Stage], task: str = "classify") -> str:
    acc = "MAE" if task == "regress" else "accuracy"
    lines = [f"{'stage':<10} {'bytes':>8} {'bits/w':>7} {'MACs':>10} {'RAM res.':>9} {'RAM str.':>9} "
             f"{'sparsity':>9} {'max K':>6} {acc + ' float':>15} {acc + ' int8':>14}"]
    for s in stages:
        fa = f"{100 * s.accuracy_float:.2f} %" if task != "regress" else f"{s.accuracy_float:.4f}"
        ia = f"{100 * s.accuracy_int8:.2f} %" if task != "regress" else f"{s.accuracy_int8:.4f}"
        lines.append(f"{s.name:<10} {s.bytes:>8,} {s.bits_per_weight:>7.2f} {s.macs:>10,} "
                     f"{s.peak_ram_resident:>9,} {s.peak_ram_streaming:>9,} {100 * s.sparsity:>8.1f}% "
                     f"{s.distinct_max:>6} {fa:>15} {ia:>14}")
    return "\n".join(lines)


def plot(stages: list[Stage], out: Path, task: str = "classify") -> None:
    """Accuracy against size and against MACs, each stage labelled, the Pareto front marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    acc = [100 * s.accuracy_int8 if task != "regress" else s.accuracy_int8 for s in stages]
    better = (lambda a, b: a >= b) if task != "regress" else (lambda a, b: a <= b)
    for ax, key, label in ((axes[0], "bytes", ".mote bytes"), (axes[1], "macs", "MACs")):
        xs = [getattr(s, key) for s in stages]
        front = [i for i in range(len(stages)) if not any(
            (xs[j] <= xs[i] and better(acc[j], acc[i]) and (xs[j] < xs[i] or acc[j] != acc[i]))
            for j in range(len(stages)))]
        ax.scatter(xs, acc, color="#4a7fb0")
        pf = sorted(front, key=lambda i: xs[i])
        ax.plot([xs[i] for i in pf], [acc[i] for i in pf], color="#c0392b", lw=1, label="Pareto front")
        for i, s in enumerate(stages):       # (alternate offsets: stages often share a MACs count)
            ax.annotate(s.name, (xs[i], acc[i]), textcoords="offset points", xytext=(4, 4 - 12 * (i % 2)),
                        fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("int8 accuracy (%)" if task != "regress" else "int8 MAE")
        ax.ticklabel_format(axis="x", style="plain")
        ax.legend(fontsize=8)
    fig.suptitle("motes compress: each stage, int8 as the board computes it")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
