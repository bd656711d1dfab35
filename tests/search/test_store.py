import numpy as np
import pytest

from vistamatch.search import NumpyStore, VectorStore, l2_normalize


def test_numpy_store_is_a_vector_store():
    assert isinstance(NumpyStore.empty(8), VectorStore)


def test_search_is_exact_cosine_on_a_memory_map(tmp_path):
    rng = np.random.default_rng(0)
    vectors = l2_normalize(rng.standard_normal((500, 24)))
    np.save(tmp_path / "f.npy", vectors)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    store = NumpyStore(mm, [f"{i}.jpg" for i in range(500)])
    query = rng.standard_normal(24).astype(np.float32)
    rows, scores = store.search(query, 7)
    cos = vectors @ (query / np.linalg.norm(query))
    assert rows.tolist() == np.argsort(-cos)[:7].tolist()
    np.testing.assert_allclose(scores, cos[rows], atol=1e-6)
    assert store.keys(rows[:1])[0] == f"{rows[0]}.jpg"


def test_unnormalised_rows_are_scored_by_cosine_without_copying_the_file(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.standard_normal((50, 8)).astype(np.float32) * rng.uniform(0.1, 10, (50, 1)).astype(np.float32)
    np.save(tmp_path / "f.npy", raw)
    store = NumpyStore(np.load(tmp_path / "f.npy", mmap_mode="r"), [str(i) for i in range(50)], normalized=False)
    rows, scores = store.search(raw[3], 1)
    assert rows[0] == 3 and scores[0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(store.vectors(np.arange(50)), axis=1), 1.0, atol=1e-5)


def test_search_many_equals_one_search_per_query_across_chunks(monkeypatch):
    rng = np.random.default_rng(2)
    vectors = l2_normalize(rng.standard_normal((1000, 16)))
    store = NumpyStore(vectors, [f"{i}.jpg" for i in range(1000)])
    monkeypatch.setattr(NumpyStore, "CHUNK", 97)  # many blocks, merged
    queries = rng.standard_normal((5, 16))
    for (rows, scores), query in zip(store.search_many(queries, 20), queries):
        one_rows, one_scores = store.search(query, 20)
        assert rows.tolist() == one_rows.tolist()
        np.testing.assert_allclose(scores, one_scores, atol=1e-6)
    assert [len(r) for r, _ in store.search_many(queries[:2], 5000)] == [1000, 1000]


def test_row_of_finds_a_key_or_none():
    store = NumpyStore(np.eye(3, dtype=np.float32), ["a.jpg", "b.jpg", "a.jpg"])
    assert store.row_of("b.jpg") == 1
    assert store.row_of("a.jpg") == 0  # listed twice: the first row
    assert store.row_of("zzz") is None
    assert store.exact is True


def test_shape_errors():
    with pytest.raises(ValueError, match="keys"):
        NumpyStore(np.zeros((3, 2), np.float32), ["a"])
    with pytest.raises(ValueError, match="dimension"):
        NumpyStore(np.eye(3, dtype=np.float32), list("abc")).search(np.ones(4), 1)
