"""Clustering (Han et al. 2016, weight sharing): at most K shared values per
kernel, k-means in 1-D, the shared values fine-tuned (`_Clusterer.apply` after
every batch). `compress.compress` runs it as a stage."""
from __future__ import annotations

import numpy as np

from ._keras import _kernels


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
