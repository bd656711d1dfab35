import numpy as np
import pytest

from vistamatch.search.tiers import tier_ends


def sizes(ends):
    starts = [0, *ends[:-1]]
    return [b - a for a, b in zip(starts, ends)]


@pytest.mark.parametrize(
    "n, expected",
    [(1, [1, 0, 0, 0]), (2, [1, 1, 0, 0]), (3, [1, 1, 1, 0]), (4, [1, 1, 1, 1]), (10, [1, 2, 3, 4]), (50, [5, 10, 15, 20])],
)
def test_quantile_sizes(n, expected):
    assert sizes(tier_ends(np.linspace(1.0, 0.0, n))) == expected


@pytest.mark.parametrize("n", range(1, 201))
def test_quantile_tiers_are_in_order_and_full_from_four_results(n):
    ends = tier_ends(np.linspace(0.99, 0.1, n))
    assert ends == sorted(ends) and ends[-1] == n
    s = sizes(ends)
    if n >= 4:
        assert all(x >= 1 for x in s)
        assert s[0] <= s[1] <= s[2] <= s[3] + 1  # 10/20/30/40 %, rounded up at the top
    else:
        assert s == [1] * n + [0] * (4 - n)


def test_all_equal_scores_share_the_top_tier():
    assert sizes(tier_ends(np.full(12, 0.5))) == [12, 0, 0, 0]


def test_ties_never_straddle_a_boundary():
    scores = np.array([0.9, 0.8, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    ends = tier_ends(scores)  # quantile ends would be 1, 3, 6: the 0.8s join Excellent together
    assert ends == [1, 4, 6, 10]
    for end in ends[:-1]:
        assert scores[end - 1] != scores[end]


def test_absolute_thresholds():
    scores = np.array([0.95, 0.86, 0.85, 0.7, 0.69, 0.5, 0.1])
    assert sizes(tier_ends(scores, "absolute")) == [3, 1, 2, 1]
    assert sizes(tier_ends(scores, "absolute", (0.9, 0.2, 0.0))) == [1, 5, 1, 0]


def test_bad_policy_and_thresholds():
    with pytest.raises(ValueError, match="unknown tier policy"):
        tier_ends(np.ones(3), "kmeans")
    with pytest.raises(ValueError, match="decrease"):
        tier_ends(np.ones(3), "absolute", (0.5, 0.7, 0.1))
