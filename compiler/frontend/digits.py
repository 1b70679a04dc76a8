"""A small CNN trained in numpy on scikit-learn's bundled digits (8x8, no download).

:func:`train_digits_cnn` is deterministic for a seed (fixed split, He init, Adam, fixed
batch order) and takes a few seconds; :func:`accuracy` measures any graph executor on the
held-out split, so float, int8-reference and int8-on-VTA accuracy compare on one footing.
The network is :func:`.models.digits_cnn_graph`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..int8_reference import im2col
from .errors import ModelError
from .graph import Graph
from .models import digits_cnn_graph

__all__ = ["DigitsData", "DigitsCNN", "load_digits_split", "train_digits_cnn", "accuracy"]


@dataclass(frozen=True)
class DigitsData:
    """The digits split: images ``float32 [N, 1, 8, 8]`` scaled to ``[0, 1]``, labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0, test_fraction: float = 0.2) -> DigitsData:
    """scikit-learn's digits, shuffled with ``seed`` and split ``test_fraction`` held out.

    Raises
    ------
    ModelError
        if scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ModelError("the digits example needs scikit-learn (pip install "
                         "scikit-learn)") from None
    d = load_digits()
    x = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return DigitsData(x[train], y[train], x[test], y[test])


@dataclass(frozen=True)
class DigitsCNN:
    """Trained parameters (``w1 b1 w2 b2`` OIHW convs, ``w3 [10, 512] b3``) and history."""

    params: Mapping[str, np.ndarray]
    history: tuple[float, ...] = field(default=())

    def graph(self, batch: int = 1) -> Graph:
        """The float graph of this network."""
        return digits_cnn_graph(self.params, batch)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Float logits of a batch ``[N, 1, 8, 8]`` (the training forward pass)."""
        return _forward(self.params, x)[0]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3x3 pad-1 stride-1 conv: returns NCHW output and the im2col matrix."""
    n, c, h, wd = x.shape
    cols = im2col(x, (3, 3), (1, 1), (1, 1, 1, 1)).reshape(n * h * wd, c * 9)
    out = cols @ w.reshape(w.shape[0], -1).T + b
    return out.reshape(n, h, wd, -1).transpose(0, 3, 1, 2), cols


def _forward(p: Mapping[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, dict]:
    z1, cols1 = _conv(x, p["w1"], p["b1"])
    a1 = np.maximum(z1, 0)
    z2, cols2 = _conv(a1, p["w2"], p["b2"])
    a2 = np.maximum(z2, 0)
    n, c, h, w = a2.shape
    win = a2.reshape(n, c, h // 2, 2, w // 2, 2)
    pooled = win.max(axis=(3, 5))
    flat = pooled.reshape(n, -1)
    logits = flat @ p["w3"].T + p["b3"]
    return logits, {"cols1": cols1, "z1": z1, "a1": a1, "cols2": cols2, "z2": z2, "a2": a2,
                    "win": win, "pooled": pooled, "flat": flat}


def _backward(p: Mapping[str, np.ndarray], cache: dict, dlogits: np.ndarray
              ) -> dict[str, np.ndarray]:
    g = {"w3": dlogits.T @ cache["flat"], "b3": dlogits.sum(0)}
    dpooled = (dlogits @ p["w3"]).reshape(cache["pooled"].shape)
    win = cache["win"]
    mask = win == cache["pooled"][:, :, :, None, :, None]
    # ties (rare but for all-zero ReLU windows, whose gradient is masked below) share it
    da2 = (mask * dpooled[:, :, :, None, :, None]).reshape(cache["a2"].shape)
    dz2 = da2 * (cache["z2"] > 0)
    n, o, h, w = dz2.shape
    d2 = dz2.transpose(0, 2, 3, 1).reshape(-1, o)
    g["w2"] = (d2.T @ cache["cols2"]).reshape(p["w2"].shape)
    g["b2"] = d2.sum(0)
    dcols = (d2 @ p["w2"].reshape(o, -1)).reshape(n, h, w, -1, 3, 3)
    da1p = np.zeros((n, dcols.shape[3], h + 2, w + 2), np.float32)
    for ky in range(3):
        for kx in range(3):
            da1p[:, :, ky:ky + h, kx:kx + w] += dcols[:, :, :, :, ky, kx].transpose(0, 3, 1, 2)
    dz1 = da1p[:, :, 1:-1, 1:-1] * (cache["z1"] > 0)
    d1 = dz1.transpose(0, 2, 3, 1).reshape(-1, dz1.shape[1])
    g["w1"] = (d1.T @ cache["cols1"]).reshape(p["w1"].shape)
    g["b1"] = d1.sum(0)
    return g


def train_digits_cnn(data: DigitsData | None = None, *, epochs: int = 8, seed: int = 0,
                     batch_size: int = 32, lr: float = 3e-3) -> DigitsCNN:
    """Train the digits CNN with Adam on softmax cross-entropy.

    Parameters
    ----------
    data:
        The split (default: :func:`load_digits_split` with ``seed``).
    epochs, batch_size, lr:
        Training schedule (the learning rate halves for the last third).
    seed:
        Seeds the split, the initial weights and the batch order.
    """
    data = data or load_digits_split(seed)
    try:  # small matrices: threaded BLAS only adds contention (10x slower on a busy host)
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        return _train(data, epochs, seed, batch_size, lr)
    with threadpool_limits(1):
        return _train(data, epochs, seed, batch_size, lr)


def _train(data: DigitsData, epochs: int, seed: int, batch_size: int, lr: float
           ) -> DigitsCNN:
    rng = np.random.default_rng(seed)

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.normal(0, np.sqrt(2 / fan_in), shape)).astype(np.float32)

    p = {"w1": he((16, 1, 3, 3), 9), "b1": np.zeros(16, np.float32),
         "w2": he((32, 16, 3, 3), 144), "b2": np.zeros(32, np.float32),
         "w3": he((10, 512), 512) * np.float32(0.5), "b3": np.zeros(10, np.float32)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    step = 0
    history = []
    n = len(data.x_train)
    for epoch in range(epochs):
        rate = lr if epoch < (2 * epochs) // 3 else lr / 2
        order = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            x, y = data.x_train[idx], data.y_train[idx]
            logits, cache = _forward(p, x)
            z = logits - logits.max(1, keepdims=True)
            prob = np.exp(z)
            prob /= prob.sum(1, keepdims=True)
            total += float(-np.log(prob[np.arange(len(y)), y] + 1e-12).sum())
            prob[np.arange(len(y)), y] -= 1
            grads = _backward(p, cache, (prob / len(y)).astype(np.float32))
            step += 1
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * grads[k]
                v2[k] = b2 * v2[k] + (1 - b2) * grads[k] ** 2
                mh = m[k] / (1 - b1 ** step)
                vh = v2[k] / (1 - b2 ** step)
                p[k] = (p[k] - rate * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        history.append(total / n)
    return DigitsCNN({k: v.copy() for k, v in p.items()}, tuple(history))


def accuracy(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` (one image at a time) whose argmax of ``run(image)`` is ``y``."""
    hits = sum(int(np.argmax(run(x[i:i + 1])) == y[i]) for i in range(len(x)))
    return hits / len(x)
