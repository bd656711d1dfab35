import json

import numpy as np
import pytest

from vistamatch.search import TIER_NAMES, NumpyStore, l2_normalize, search


def make_store(n=200, d=16, seed=0):
    rng = np.random.default_rng(seed)
    vectors = l2_normalize(rng.standard_normal((n, d)))
    return NumpyStore(vectors, [f"img_{i:04d}.jpg" for i in range(n)]), vectors, rng


def test_result_has_the_original_api_shape():
    store, _, rng = make_store()
    result = search(store, rng.standard_normal(16), 50)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["ok"] is True and d["topk_requested"] == 50 and d["topk_returned"] == 50
    assert d["dedup_enabled"] is True and d["gallery_size"] == 200 and d["duplicates_removed"] == 0
    assert [t["name"] for t in d["tiers"]] == list(TIER_NAMES)
    assert [t["size"] for t in d["tiers"]] == [5, 10, 15, 20]
    items = [it for t in d["tiers"] for it in t["items"]]
    assert [it["rank"] for it in items] == list(range(1, 51))
    scores = [it["score"] for it in items]
    assert scores == sorted(scores, reverse=True)
    for t in d["tiers"]:
        s = [it["score"] for it in t["items"]]
        assert t["score_max"] == max(s) and t["score_min"] == min(s)
        assert t["avg_score"] == pytest.approx(sum(s) / len(s), abs=1e-6)
    assert set(d["timing_ms"]) >= {"search", "dedup_filter"}


def test_dedup_still_returns_k_when_many_candidates_are_duplicates():
    _, vectors, _ = make_store(n=100)
    # 60 copies of row 0 under other names: all near-duplicates of the best hit
    names = [f"img_{i:04d}.jpg" for i in range(100)] + [f"copy_{i}.jpg" for i in range(60)]
    store = NumpyStore(np.concatenate([vectors, np.repeat(vectors[:1], 60, axis=0)]), names)
    result = search(store, vectors[0], 50, near_dup_threshold=0.9995)
    names = [h.filename for h in result.hits]
    assert len(names) == 50
    assert sum(n == "img_0000.jpg" or n.startswith("copy_") for n in names) == 1
    assert result.duplicates_removed == 60
    plain = search(store, vectors[0], 50, dedup=False)
    assert plain.duplicates_removed == 0
    assert sum(h.filename.startswith("copy_") for h in plain.hits) >= 49


def test_k_one_and_k_larger_than_the_gallery():
    store, vectors, _ = make_store(n=7)
    one = search(store, vectors[3], 1)
    assert [(t.name, t.size) for t in one.tiers] == [("Perfect", 1)]
    assert one.hits[0].filename == "img_0003.jpg" and one.hits[0].score == pytest.approx(1.0)
    many = search(store, vectors[3], 200)
    assert many.topk_requested == 200 and many.topk_returned == 7
    assert sorted(h.filename for h in many.hits) == sorted(store.all_keys.tolist())


def test_all_scores_equal():
    vectors = np.tile(l2_normalize(np.ones((1, 4))), (6, 1))
    store = NumpyStore(vectors, [f"{i}.jpg" for i in range(6)])
    undeduped = search(store, np.ones(4), 6, dedup=False)
    assert [(t.name, t.size) for t in undeduped.tiers] == [("Perfect", 6)]
    assert [h.filename for h in undeduped.hits] == [f"{i}.jpg" for i in range(6)]  # ties by row
    deduped = search(store, np.ones(4), 6)
    assert deduped.topk_returned == 1 and deduped.duplicates_removed == 5


def test_empty_store_and_bad_k():
    store = NumpyStore.empty(4)
    result = search(store, np.ones(4), 5)
    assert result.topk_returned == 0 and result.tiers == []
    with pytest.raises(ValueError):
        search(store, np.ones(4), 0)


def test_threshold_defaults_to_the_environment(monkeypatch):
    store = NumpyStore(l2_normalize(np.array([[1.0, 0], [1.0, 0.2]])), ["a.jpg", "b.jpg"])
    assert search(store, np.array([1.0, 0]), 2).topk_returned == 2  # cosine 0.98 < 0.9995
    monkeypatch.setenv("DEDUP_FEAT_SIM_TH", "0.95")
    assert search(store, np.array([1.0, 0]), 2).topk_returned == 1


def test_absolute_policy():
    store, vectors, _ = make_store(n=30)
    result = search(store, vectors[0], 10, tier_policy="absolute")
    assert result.tiers[0].name == "Perfect" and result.tiers[0].size == 1  # only the query itself is >= 0.85
    assert all(h.score < 0.85 for t in result.tiers[1:] for h in t.items)
