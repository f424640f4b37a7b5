"""The Keras helpers the compression stages share (`compress`, `prune`, `cluster`,
`qat`, `distil`) and `train.py` uses: Keras (TensorFlow first, or a ModelError
saying how to install it), the kernels a stage works on, the task a model does,
compiling and fine-tuning with per-batch hooks (a stage's `apply(final=False)`:
the pruning masks, the cluster means), float accuracy."""
from __future__ import annotations

import numpy as np

KERNEL_LAYERS = ("Dense", "Conv2D", "DepthwiseConv2D", "Conv1D", "SeparableConv2D")


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
