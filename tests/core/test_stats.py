"""One timing-statistics function for every bench."""

from __future__ import annotations

import numpy as np
import pytest

from genstudio.core.stats import percentile, summarize


@pytest.mark.parametrize("n", [1, 2, 5, 20, 101])
def test_percentiles_are_numpys_linear_ones(n):
    xs = list(np.random.default_rng(n).exponential(size=n))
    for q in (0, 5, 50, 95, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)), rel=1e-12)


def test_summary_names_its_unit():
    s = summarize([0.001, 0.002, 0.003], "ms", scale=1000.0)
    assert s == {"p50_ms": 2.0, "p95_ms": pytest.approx(2.9), "min_ms": 1.0, "max_ms": 3.0, "n": 3}
    with pytest.raises(ValueError):
        percentile([], 50)
