"""The neighbour graph: blocked exact products equal brute force, whatever the block size."""

import numpy as np
import pytest

from vistamatch.duplicates import exact_neighbours, neighbours_from_search
from vistamatch.search import NumpyStore

from .helpers import unit


def brute_force(vectors: np.ndarray, floor: float):
    s = vectors @ vectors.T
    np.fill_diagonal(s, -np.inf)
    first, second = np.nonzero(np.triu(s >= floor, 1))
    return first, second, s[first, second], s.max(axis=1)


@pytest.fixture(scope="module")
def planted():
    """300 random unit vectors, with near and exact copies planted among them."""
    rng = np.random.default_rng(1)
    v = unit(rng, 300, 24)
    for i in range(0, 300, 10):
        v[i + 1] = v[i]  # exact copy
        noisy = v[i] + 0.05 * rng.standard_normal(24)
        v[i + 2] = noisy / np.linalg.norm(noisy)  # near copy
    return v


@pytest.mark.parametrize("block", [1, 7, 64, 300, 1000])
def test_blocked_equals_brute_force(planted, block):
    first, second, scores, nearest = brute_force(planted, 0.9)
    graph = exact_neighbours(planted, 0.9, block=block)
    assert len(first) >= 60  # the planted pairs are there
    np.testing.assert_array_equal(graph.first, first)
    np.testing.assert_array_equal(graph.second, second)
    np.testing.assert_allclose(graph.scores, scores, atol=1e-5)
    np.testing.assert_allclose(graph.nearest, nearest, atol=1e-5)
    assert graph.size == 300 and graph.floor == 0.9


def test_memory_map_and_store_give_the_same_graph(planted, tmp_path):
    np.save(tmp_path / "f.npy", planted * 3)  # rows not unit length: the store rescales them
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    store = NumpyStore(mapped, [f"{i}.jpg" for i in range(300)], normalized=False)
    from_store = exact_neighbours(store, 0.9, block=50)
    plain = exact_neighbours(planted, 0.9, block=50)
    np.testing.assert_array_equal(from_store.first, plain.first)
    np.testing.assert_allclose(from_store.scores, plain.scores, atol=1e-5)


def test_threshold_view_and_floor(planted):
    graph = exact_neighbours(planted, 0.9)
    high = graph.at(0.999)
    assert 0 < len(high.scores) < len(graph.scores) and high.scores.min() >= 0.999
    with pytest.raises(ValueError, match="below the graph's floor"):
        graph.at(0.5)


def test_tiny_indexes():
    one = exact_neighbours(np.ones((1, 4), np.float32) / 2, 0.9)
    assert len(one.first) == 0 and one.nearest.tolist() == [-1.0]
    none = exact_neighbours(np.zeros((0, 4), np.float32), 0.9)
    assert none.size == 0 and len(none.first) == 0


class BatchedStore(NumpyStore):
    """The exact store, counting its batched searches."""

    calls = 0

    def search_many(self, queries, k):
        BatchedStore.calls += 1
        return super().search_many(queries, k)


@pytest.mark.parametrize("store_class", [NumpyStore, BatchedStore])
def test_from_search_equals_exact(planted, store_class):
    store = store_class(planted, [f"{i}.jpg" for i in range(300)])
    graph = neighbours_from_search(store, 0.9, k=8, batch=64)
    exact = exact_neighbours(planted, 0.9)
    np.testing.assert_array_equal(graph.first, exact.first)
    np.testing.assert_array_equal(graph.second, exact.second)
    np.testing.assert_allclose(graph.scores, exact.scores, atol=1e-5)
    np.testing.assert_allclose(graph.nearest, exact.nearest, atol=1e-5)
    if store_class is BatchedStore:
        assert BatchedStore.calls == 5  # 300 rows in batches of 64


def test_from_an_approximate_store_equals_exact_when_it_probes_every_list(planted):
    ann = pytest.importorskip("vistamatch.search.ann")
    pytest.importorskip("faiss")
    store = ann.AnnStore.build(NumpyStore(planted, [f"{i}.jpg" for i in range(300)]), lists=8)
    store.effort = store.max_effort
    graph = neighbours_from_search(store, 0.9, k=8, batch=64)
    exact = exact_neighbours(planted, 0.9)
    np.testing.assert_array_equal(graph.first, exact.first)
    np.testing.assert_array_equal(graph.second, exact.second)
    np.testing.assert_allclose(graph.scores, exact.scores, atol=1e-5)
