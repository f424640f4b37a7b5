"""Run a MoteModel with the numpy reference kernels inside its planned arena.

The arena is one int8 buffer of `arena_size` bytes; every activation tensor is
a view at its planned offset, exactly as on the device. A wrong memory plan
therefore shows up as wrong numbers, not as a hidden difference.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import ops
from ..compiler.interleave import deinterleave_layer
from ..mote import FormatError, MoteModel
from ..compiler.graph import ModelError


class Executor:
    def __init__(self, model: MoteModel):
        self.model = model
        self.arena = np.zeros(max(model.arena_size, 1), np.uint8)
        self.views = [self._view(t) for t in model.tensors]
        # a model read with decode=False: its layers' constants decoded here (the model's own
        # layers are left as they are)
        layers = [replace(layer, consts=model.decoded_consts(i)) if not layer.consts and model.packed[i]
                  else layer for i, layer in enumerate(model.layers)]
        # the kernels take TFLite's row-major weights and unfolded bias: undo format
        # 1.2's interleaving once (the model's own layers are left as stored)
        self.layers = [deinterleave_layer(layer) for layer in layers]

    def _view(self, t):
        n = t.nbytes
        return self.arena[t.offset:t.offset + n].view(t.dtype).reshape(t.shape)

    def run(self, inputs: list[np.ndarray], trace=None) -> list[np.ndarray]:
        m = self.model
        if len(inputs) != len(m.inputs):
            raise ValueError(f"the model has {len(m.inputs)} input(s), got {len(inputs)}")
        for idx, x in zip(m.inputs, inputs):
            view = self.views[idx]
            x = np.asarray(x)
            if x.size != view.size:
                raise ValueError(f"input has {x.size} values; the model wants {view.size} "
                                 f"(shape {tuple(view.shape)})")
            view[...] = x.reshape(view.shape).astype(view.dtype)
        for i, layer in enumerate(self.layers):
            try:
                ops.evaluate_layer(layer, [self.views[t] for t in layer.inputs],
                                   [self.views[t] for t in layer.outputs])
            except ModelError:
                raise
            except (ValueError, IndexError, ZeroDivisionError, TypeError, OverflowError, KeyError) as e:
                # params or shapes the file's verification let through but the op cannot take:
                # one error naming the layer, as the device runtime gives (net.py)
                raise FormatError(f"layer {i} ({layer.op}): {e}") from e
            if trace is not None:
                trace(i, layer, [self.views[t] for t in layer.outputs])
        return [self.views[t].copy() for t in m.outputs]
