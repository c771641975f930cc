"""The one metrics module every evaluation uses (genstudio.ml.metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from genstudio.ml import metrics


def test_metrics_match_brute_force():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 5)), rng.normal(size=(40, 5)) + 2.0
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    assert metrics.mean_pairwise(a) == pytest.approx(d.sum() / (300 * 299), rel=1e-9)
    nn = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1)).min(1).mean()
    assert metrics.nn_distance(a, b) == pytest.approx(nn, rel=1e-9)
    assert metrics.nn_distance(b, b) == pytest.approx(0.0, abs=1e-6)  # copies are at 0
    assert metrics.mean_pairwise(a[:1]) == 0.0


def test_frechet_of_known_gaussians():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20_000, 3))
    assert metrics.frechet(a, a) == pytest.approx(0.0, abs=1e-9)
    # same covariance, means 2 apart in each of 3 dims: 3 * 2^2
    assert metrics.frechet(a, a + 2.0) == pytest.approx(12.0, rel=1e-6)
    # N(0, I) vs N(0, 4 I): tr(I) + tr(4I) - 2 tr(2I) = 3
    assert metrics.frechet(a, 2.0 * rng.normal(size=(20_000, 3))) == pytest.approx(3.0, rel=0.05)


def test_evaluations_share_the_module():
    from genstudio.ml.images import evaluate as ie
    from genstudio.ml.sprites import evaluate as se

    for name in ("frechet", "mean_pairwise", "nn_distance"):
        assert getattr(ie, name) is getattr(metrics, name) is getattr(se, name)
