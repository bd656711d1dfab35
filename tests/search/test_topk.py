import numpy as np

from vistamatch.search.topk import top_k


def test_matches_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal(10_000).astype(np.float32)
    rows, top = top_k(scores, 50)
    expected = np.argsort(-scores, kind="stable")[:50]
    assert rows.tolist() == expected.tolist()
    assert np.array_equal(top, scores[expected])


def test_k_larger_than_the_list_returns_everything_sorted():
    scores = np.array([0.1, 0.9, 0.5], np.float32)
    rows, top = top_k(scores, 10)
    assert rows.tolist() == [1, 2, 0]
    assert top.tolist() == sorted(scores.tolist(), reverse=True)


def test_ties_are_ordered_by_row_across_the_cut():
    # five equal scores, k cuts through them: the lowest rows win, whatever argpartition picked
    scores = np.array([0.2, 0.7, 0.7, 0.9, 0.7, 0.7, 0.7, 0.1], np.float32)
    rows, _ = top_k(scores, 3)
    assert rows.tolist() == [3, 1, 2]


def test_empty_and_zero():
    assert len(top_k(np.zeros(0, np.float32), 5)[0]) == 0
    assert len(top_k(np.ones(4, np.float32), 0)[0]) == 0
