"""Similarity tiers: Perfect / Excellent / Good / Just-so-so, in that order, over a ranked list.

Two policies:

``quantile`` (default, as the original): by position in the returned list, best first: the top 10 %
Perfect, the next 20 % Excellent, the next 30 % Good, the rest Just-so-so. Tier ends are
``ceil(n * 0.1)``, ``ceil(n * 0.3)``, ``ceil(n * 0.6)`` and ``n``, so K=50 gives 5/10/15/20. Short lists
use a count-based split instead: K=1 is one Perfect; K=2 Perfect, Excellent; K=3 Perfect, Excellent,
Good; from K=4 on the quantile ends already give every tier at least one result. Equal scores never
straddle a tier boundary: a tie joins the higher tier (so when all scores are equal, all are Perfect).

``absolute``: by fixed cosine thresholds (score >= 0.85 Perfect, >= 0.70 Excellent, >= 0.50 Good,
otherwise Just-so-so), so the tier says how similar a result is, not how it ranks in this list.

Either way the tiers follow score order and only non-empty tiers are reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

TIER_NAMES = ("Perfect", "Excellent", "Good", "Just-so-so")
QUANTILE_FRACTIONS = (0.1, 0.3, 0.6)  # cumulative ends of the first three tiers
ABSOLUTE_THRESHOLDS = (0.85, 0.70, 0.50)  # minimum cosine of the first three tiers
TIER_POLICIES = ("quantile", "absolute")


def tier_ends(scores: np.ndarray, policy: str = "quantile", thresholds: Sequence[float] = ABSOLUTE_THRESHOLDS) -> list[int]:
    """End index (exclusive) of each of the four tiers over ``scores`` sorted best first.

    Tier i holds ``scores[ends[i-1]:ends[i]]``; the ends never decrease and the last is ``len(scores)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if policy == "quantile":
        return _quantile_ends(scores)
    if policy == "absolute":
        if list(thresholds) != sorted(thresholds, reverse=True):
            raise ValueError(f"absolute thresholds must decrease, got {tuple(thresholds)}")
        # number of scores >= each threshold, on a list sorted best first
        above = [int(np.count_nonzero(scores >= t)) for t in thresholds]
        return [*above, len(scores)]
    raise ValueError(f"unknown tier policy {policy!r}; choose one of {', '.join(TIER_POLICIES)}")


def _quantile_ends(scores: np.ndarray) -> list[int]:
    n = len(scores)
    if n < len(TIER_NAMES):
        ends = [min(i + 1, n) for i in range(len(TIER_NAMES) - 1)]  # one result per tier, from the top
    else:
        ends = [math.ceil(n * f - 1e-9) for f in QUANTILE_FRACTIONS]
    ends.append(n)
    # a tie with the last score of a tier joins that tier
    for i in range(len(ends) - 1):
        end = max(ends[i], ends[i - 1] if i else 0)
        while 0 < end < n and scores[end] == scores[end - 1]:
            end += 1
        ends[i] = end
    return ends
