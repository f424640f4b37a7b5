"""Distillation (Hinton et al. 2015) and function matching (Beyer et al. 2022): a
student (the teacher's architecture `width` times as wide, `_widened`, or a model passed in) trained
on the teacher's outputs; `train_like`, the labels-only baseline it must beat.
`compress.compress` uses `distil` for its distil and structured stages."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ._keras import _fit, _keras, _task


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
