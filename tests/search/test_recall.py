import numpy as np
import pytest

from vistamatch.search import NumpyStore
from vistamatch.search.recall import RecallReport, describe, measure_recall, sample_rows, tune_effort

from .clustered import clustered_store


class Truncated:
    """A store that drops every other row from its ranking: its recall is known by construction."""

    exact = False

    def __init__(self, base: NumpyStore, keep_every: int):
        self.base, self.keep_every, self.effort, self.max_effort = base, keep_every, 1, 64

    def search_many(self, queries, k):
        out = []
        for rows, scores in self.base.search_many(queries, k):
            # the query's own row (best) stays; of the rest, every keep_every-th one
            keep = np.ones(len(rows), bool)
            keep[1:] = np.arange(len(rows) - 1) % self.keep_every == 0
            out.append((rows[keep], scores[keep]))
        return out


def brute_force_recall(store, exact, rows, k):
    """Recall@k without the query's own row, spelled out."""
    total = 0.0
    for row in rows:
        q = exact.vectors(np.array([row]))[0]
        got = [r for r in store.search_many(q[None], k + 1)[0][0].tolist() if r != row][:k]
        want = np.argsort(-(exact.vectors(np.arange(len(exact))) @ q), kind="stable")
        want = [r for r in want.tolist() if r != row][:k]
        total += len(set(got) & set(want)) / k
    return total / len(rows)


def test_measure_recall_matches_a_brute_force_reference():
    exact = clustered_store(n=600, dim=16, clusters=20)
    rows = sample_rows(exact, 40)
    for every in (1, 2, 5):
        report = measure_recall(Truncated(exact, every), exact, rows, k=10)
        assert report.recall == pytest.approx(brute_force_recall(Truncated(exact, every), exact, rows, 10))
        assert report.k == 10 and report.queries == 40
    assert measure_recall(Truncated(exact, 1), exact, rows, k=10).recall == 1.0
    assert measure_recall(Truncated(exact, 2), exact, rows, k=10).recall == pytest.approx(0.5)


def test_sample_rows_are_distinct_gallery_rows():
    exact = clustered_store(n=100, dim=8, clusters=5)
    rows = sample_rows(exact, 30, seed=4)
    assert len(set(rows.tolist())) == 30 and rows.max() < 100
    assert len(sample_rows(exact, 10**6)) == 100


def test_tune_effort_picks_the_smallest_effort_that_meets_the_target():
    faiss = pytest.importorskip("faiss")  # noqa: F841
    from vistamatch.search.ann import AnnStore

    exact = clustered_store(n=4000)
    ann = AnnStore.build(exact)
    rows = sample_rows(exact, 200)
    report = tune_effort(ann, exact, rows, k=50, target=0.99)
    assert report.met and report.recall >= 0.99 and report.effort == ann.effort
    if ann.effort > 1:
        ann.effort //= 2
        assert measure_recall(ann, exact, rows, k=50).recall < 0.99  # the one below misses it


def test_an_unreachable_target_is_reported_as_not_met():
    exact = clustered_store(n=600, dim=16, clusters=20)
    report = tune_effort(Truncated(exact, 2), exact, sample_rows(exact, 20), k=10, target=0.99)
    assert not report.met and report.effort == 32 and report.target == 0.99  # stopped at half of max_effort


def test_describe():
    assert describe(RecallReport(0.99734, 50, 1000, 16, 0.99, True)) == (
        "approximate: 99.7 % of exact top-50, measured on 1,000 of your images"
    )
    assert describe(RecallReport(0.99996, 50, 200)).startswith("approximate: 99.9 %")  # never rounded up to 100
    assert describe(RecallReport(0.971, 50, 1000, 32, 0.99, False)) == (
        "exact: the approximate index reached only 97.1 % of exact top-50, measured on 1,000 of your images"
        " (target 99.0 %), so every image is compared"
    )
    assert describe(None, 12345) == "exact: every one of 12,345 images compared"
