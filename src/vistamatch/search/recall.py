"""How close an approximate store is to the exact scan, measured on the gallery's own vectors.

``measure_recall`` compares top-k lists; ``tune_effort`` raises the store's search effort (lists
probed) until a target recall is met; ``describe`` says the outcome in one line for the user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .store import VectorStore

TARGET = 0.99  # default recall@K target
K = 50
SAMPLE = 1000  # gallery vectors used as queries


@dataclass
class RecallReport:
    recall: float  # mean over the queries of |approximate top-k ∩ exact top-k| / |exact top-k|
    k: int
    queries: int
    effort: int | None = None  # the store's effort it was measured at
    target: float | None = None
    met: bool = True  # False: the target was not reached below the exact scan's cost; use exact

    def to_dict(self) -> dict:
        return asdict(self)


def sample_rows(exact: VectorStore, n: int = SAMPLE, seed: int = 0) -> np.ndarray:
    """Up to ``n`` gallery rows picked at random, sorted: their vectors are the recall queries."""
    return np.sort(np.random.default_rng(seed).choice(len(exact), min(n, len(exact)), replace=False))


def measure_recall(store: VectorStore, exact: VectorStore, rows: np.ndarray, k: int = K) -> RecallReport:
    """Recall@k of ``store`` against ``exact``, queried with the vectors of the gallery ``rows``.

    Each query's own row is left out of both lists (both find it; counting it would flatter by 1/k).
    """
    queries = exact.vectors(rows)
    return _recall(store, queries, rows, exact.search_many(queries, k + 1), k)


def tune_effort(store, exact: VectorStore, rows: np.ndarray, k: int = K, target: float = TARGET) -> RecallReport:
    """Set ``store.effort`` to the smallest of 1, 2, 4, ... reaching ``target`` recall@k on ``rows``.

    The ladder stops at half of ``store.max_effort``: probing more lists than that reads about as many
    bytes as the exact scan, so there the report has ``met=False`` and the caller should use exact.
    """
    queries = exact.vectors(rows)
    want = exact.search_many(queries, k + 1)  # once: the reference does not change with the effort
    limit = max(1, store.max_effort // 2)
    effort = 1
    while True:
        store.effort = min(effort, limit)
        report = _recall(store, queries, rows, want, k)
        if report.recall >= target or store.effort >= limit:
            break
        effort *= 2
    report.target, report.met = target, report.recall >= target
    return report


def _recall(store, queries: np.ndarray, rows: np.ndarray, want: list, k: int) -> RecallReport:
    hits = []
    for row, g, w in zip(rows, store.search_many(queries, k + 1), want):
        g, w = g[0][g[0] != row][:k], w[0][w[0] != row][:k]
        if len(w):
            hits.append(len(np.intersect1d(g, w)) / len(w))
    return RecallReport(float(np.mean(hits)) if hits else 1.0, k, len(rows), getattr(store, "effort", None))


def describe(report: RecallReport | None, size: int | None = None) -> str:
    """One line for the user, e.g. "approximate: 99.7 % of exact top-50, measured on 1,000 of your images"."""
    if report is None:
        return "exact: every image compared" if size is None else f"exact: every one of {size:,} images compared"
    measured = f"{_percent(report.recall)} of exact top-{report.k}, measured on {report.queries:,} of your images"
    if report.met:
        return f"approximate: {measured}"
    return f"exact: the approximate index reached only {measured} (target {_percent(report.target)}), so every image is compared"


def _percent(x: float) -> str:
    return f"{np.floor(x * 1000) / 10:.1f} %"  # rounded down: 0.9996 is not "100 %"
