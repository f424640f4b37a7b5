"""Quantization-aware training: fine-tuning through int8 rounding of weights
(per channel) and activations (moving min/max), straight-through gradients; the
weights then go back into the model for the usual conversion. `compress.compress`
runs it as a stage."""
from __future__ import annotations

from ..compiler.graph import ModelError
from ._keras import _fit, _keras


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
