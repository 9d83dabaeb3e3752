"""Fleet age evidence: the same percentiles for the CLI's fleet report and the run's dashboard metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: a value that occurs, never an interpolation between two instances (an
    auditor can name the instance behind every figure)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
