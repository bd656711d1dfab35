import numpy as np

from vistamatch.search.dedup import deduplicate, first_of_each_name, near_duplicates
from vistamatch.search.store import l2_normalize


def unit(rng, n, d=16):
    return l2_normalize(rng.standard_normal((n, d)))


def test_same_basename_in_other_folders_appears_once():
    names = np.array(["a/cat.jpg", "dog.jpg", "b/cat.jpg", "cat.png", "cat.jpg"])
    assert first_of_each_name(names).tolist() == [True, True, False, True, False]


def test_near_duplicates_are_dropped_greedily_in_rank_order():
    rng = np.random.default_rng(1)
    v = unit(rng, 4)
    # 1 is a copy of 0; 2 is a copy of 1 (so of 0 too); 3 is different
    vectors = np.stack([v[0], v[0], v[0], v[3]])
    dropped = near_duplicates(vectors, np.ones(4, bool), threshold=0.9995)
    assert dropped.tolist() == [False, True, True, False]


def test_a_candidate_close_only_to_a_dropped_one_is_kept():
    # b ~ a (dropped as a near duplicate of a), c ~ b but not ~ a: c must stay
    a = np.array([1.0, 0.0, 0.0])
    b = l2_normalize(np.array([1.0, 0.03, 0.0]))
    c = l2_normalize(np.array([1.0, 0.06, 0.0]))
    vectors = np.stack([a, b, c]).astype(np.float32)
    th = float(a @ b) - 1e-6  # a~b and b~c above the threshold, a~c below
    assert float(a @ c) < th < float(b @ c)
    assert near_duplicates(vectors, np.ones(3, bool), th).tolist() == [False, True, False]


def test_name_duplicates_do_not_shadow_near_duplicate_checks():
    rng = np.random.default_rng(2)
    v = unit(rng, 3)
    names = np.array(["x.jpg", "x.jpg", "y.jpg"])
    # the second x.jpg is dropped by name; y.jpg equals it in content but not the first x.jpg: kept
    vectors = np.stack([v[0], v[1], v[1]])
    outcome = deduplicate(names, vectors, 10, threshold=0.9995)
    assert outcome.kept.tolist() == [0, 2]
    assert outcome.removed == 1


def test_removed_counts_only_what_came_before_the_kth_result():
    rng = np.random.default_rng(3)
    v = unit(rng, 6)
    names = np.array([f"{i}.jpg" for i in range(6)])
    vectors = np.stack([v[0], v[0], v[1], v[2], v[2], v[3]])  # 1 and 4 are duplicates
    outcome = deduplicate(names, vectors, 2, threshold=0.9995)
    assert outcome.kept.tolist() == [0, 2]
    assert outcome.removed == 1  # the one at position 4 was never reached
    outcome = deduplicate(names, vectors, 10, threshold=0.9995)
    assert outcome.kept.tolist() == [0, 2, 3, 5]
    assert outcome.removed == 2
