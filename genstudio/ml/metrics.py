"""Distribution metrics shared by every model's evaluation (numpy only; one set of maths).

Features are rows of a (N, D) array (a judge's embeddings of images, sprite sheets, pieces).

- :func:`frechet`: Frechet distance between Gaussians fitted to two feature sets (as FID, with
  the matrix square root from eigen-decompositions of symmetric matrices only);
- :func:`mean_pairwise`: mean Euclidean distance between distinct rows (diversity);
- :func:`nn_distance`: mean distance from each row to its nearest reference row (how far
  samples are from the training set: near 0 = copies).
"""

from __future__ import annotations

import numpy as np


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr(sqrt(S_a S_b)), in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr sqrt(S1 S2) = tr sqrt(sqrt(S1) S2 sqrt(S1)), a symmetric PSD matrix
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def mean_pairwise(x: np.ndarray) -> float:
    """Mean distance between distinct rows (0 for fewer than two)."""
    x = np.asarray(x, np.float64)
    n = len(x)
    if n < 2:
        return 0.0
    total = 0.0
    for i in range(0, n, 256):
        total += float(_distances(x[i : i + 256], x).sum())
    return total / (n * (n - 1))


def nn_distance(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean distance from each row of ``x`` to its nearest row of ``ref``."""
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    mins = [_distances(x[i : i + 256], ref).min(1) for i in range(0, len(x), 256)]
    return float(np.concatenate(mins).mean())


def _distances(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    d2 = (x**2).sum(1)[:, None] + (ref**2).sum(1)[None, :] - 2.0 * x @ ref.T
    return np.sqrt(np.clip(d2, 0.0, None))
