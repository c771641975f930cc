"""Timing statistics for every benchmark (``genstudio bench`` and the models' bench tables):
one function, so p50/p95 mean the same everywhere (linear interpolation between order
statistics, numpy's default) and units are named in the keys."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation, as ``numpy.percentile``."""
    if not values:
        raise ValueError("percentile of no values")
    s = sorted(float(v) for v in values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(values: Sequence[float], unit: str = "s", *, scale: float = 1.0) -> dict[str, float]:
    """``{p50_<unit>, p95_<unit>, min_<unit>, max_<unit>, n}`` of ``values`` times ``scale``
    (seconds -> ``unit="ms", scale=1000``; rates such as tokens per second: ``unit="tok_s"``)."""
    xs = [float(v) * scale for v in values]
    return {
        f"p50_{unit}": percentile(xs, 50),
        f"p95_{unit}": percentile(xs, 95),
        f"min_{unit}": min(xs),
        f"max_{unit}": max(xs),
        "n": len(xs),
    }
