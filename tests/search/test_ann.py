import numpy as np
import pytest

pytest.importorskip("faiss")

from vistamatch.errors import VistaMatchError  # noqa: E402
from vistamatch.search import NumpyStore, VectorStore, search  # noqa: E402
from vistamatch.search.ann import AUTO_EXACT_BELOW, AnnStore, StructureMismatch, choose_kind  # noqa: E402
from vistamatch.search.recall import measure_recall, sample_rows  # noqa: E402

from .clustered import clustered_store  # noqa: E402


@pytest.fixture(scope="module")
def exact():
    return clustered_store()


@pytest.fixture(scope="module")
def ann(exact):
    return AnnStore.build(exact, effort=16)


def test_an_approximate_store_is_a_vector_store_that_says_it_is_not_exact(ann):
    assert isinstance(ann, VectorStore) and ann.exact is False and len(ann) == 4000 and ann.dim == 32
    assert ann.row_of("0_000123.jpg") == 123 and ann.keys(np.array([7]))[0] == "0_000007.jpg"


def test_probing_every_list_gives_the_exact_top_k_with_exact_scores(exact, ann):
    ann.effort = ann.max_effort
    try:
        queries = exact.vectors(np.arange(0, 4000, 400))
        for (rows, scores), (want_rows, want_scores) in zip(ann.search_many(queries, 50), exact.search_many(queries, 50)):
            assert rows.tolist() == want_rows.tolist()
            np.testing.assert_allclose(scores, want_scores, atol=1e-6)  # re-scored: exact cosines
    finally:
        ann.effort = 16


def test_recall_on_clustered_vectors_reaches_the_target_at_moderate_effort(exact, ann):
    report = measure_recall(ann, exact, sample_rows(exact, 200), k=50)
    assert report.recall >= 0.99 and report.effort == 16 < ann.max_effort


def test_a_k_near_the_gallery_size_is_answered_by_the_exact_scan(exact, ann):
    query = exact.vectors(np.array([9]))[0]
    rows, _ = ann.search(query, 3000)  # more than the 16 probed lists hold
    assert rows.tolist() == exact.search(query, 3000)[0].tolist()


def test_the_search_core_runs_on_it(exact, ann):
    result = search(ann, exact.vectors(np.array([5]))[0], 20)
    assert result.topk_returned == 20 and result.hits[0].filename == "0_000005.jpg"
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_update_adds_removes_and_renumbers_like_a_fresh_build(exact):
    ann = AnnStore.build(exact, effort=10**6)  # every list: answers comparable with the exact scan
    extra = clustered_store(n=300, seed=1)
    keep = np.ones(4000, bool)
    keep[::3] = False  # a third of the rows removed: the others move up
    changed_row = 1  # same path, new content
    vectors = np.concatenate([exact.vectors(np.flatnonzero(keep)), extra.vectors(np.arange(300))])
    vectors[changed_row] = extra.vectors(np.array([0]))[0]
    keys = np.concatenate([exact.all_keys[keep], extra.all_keys])
    updated = NumpyStore(vectors, keys)

    added, removed = ann.update(updated, changed=[keys[changed_row]])
    assert (added, removed) == (301, len(keep) - keep.sum() + 1)
    queries = extra.vectors(np.arange(0, 300, 30))
    for (rows, _), (want, _) in zip(ann.search_many(queries, 30), updated.search_many(queries, 30)):
        assert rows.tolist() == want.tolist()
    removed_key = exact.all_keys[0]
    assert ann.row_of(removed_key) is None
    rows, scores = ann.search(exact.vectors(np.array([0]))[0], 5)
    assert removed_key not in ann.keys(rows).tolist() and scores[0] < 0.9999  # a removed row is not found


def test_needs_retrain_once_doubled_or_half_replaced(exact):
    ann = AnnStore.build(exact)
    assert not ann.needs_retrain
    grown = NumpyStore(
        np.concatenate([exact.vectors(np.arange(4000)), clustered_store(n=4000, seed=2).vectors(np.arange(4000))]),
        np.concatenate([exact.all_keys, clustered_store(n=4000, seed=2).all_keys]),
    )
    ann.update(NumpyStore(grown.vectors(np.arange(7999)), grown.all_keys[:7999]))
    assert not ann.needs_retrain  # one short of double
    ann.update(grown)
    assert ann.needs_retrain

    replaced = AnnStore.build(exact)
    other = clustered_store(n=2000, seed=3)
    half = NumpyStore(np.concatenate([exact.vectors(np.arange(1999, 4000)), other.vectors(np.arange(2000))]),
                      np.concatenate([exact.all_keys[1999:], other.all_keys]))
    replaced.update(half)
    assert not replaced.needs_retrain  # 1999 of the 4000 trained on replaced
    replaced.update(NumpyStore(half.vectors(np.arange(1, len(half))), half.all_keys[1:]))
    assert replaced.needs_retrain  # 2000: half


def test_save_load_round_trip(tmp_path, exact, ann):
    path = tmp_path / "ann.vmi"
    ann.save(path)
    loaded = AnnStore.load(path, exact)
    assert loaded.effort == ann.effort and loaded.info == ann.info
    queries = exact.vectors(np.arange(0, 4000, 250))
    for (a, sa), (b, sb) in zip(ann.search_many(queries, 50), loaded.search_many(queries, 50)):
        assert a.tolist() == b.tolist()
        np.testing.assert_array_equal(sa, sb)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left over
    assert loaded.mapped  # its lists are read from the file's pages, not copied: searches only
    with pytest.raises(RuntimeError, match="searches only"):
        loaded.update(exact)
    copied = AnnStore.from_buffer(np.fromfile(path, np.uint8), exact, path)
    assert not copied.mapped and copied.update(exact) == (0, 0)
    assert [r.tolist() for r, _ in copied.search_many(queries, 50)] == [r.tolist() for r, _ in loaded.search_many(queries, 50)]


def test_a_structure_that_does_not_fit_the_features_raises(tmp_path, exact, ann):
    path = tmp_path / "ann.vmi"
    ann.save(path)
    with pytest.raises(StructureMismatch, match="other features"):
        AnnStore.load(path, clustered_store(n=3999))
    moved = exact.vectors(np.arange(4000))
    moved[-1] = moved[0]  # same count and keys, a (sampled) row's content changed
    with pytest.raises(StructureMismatch, match="other rows"):
        AnnStore.load(path, NumpyStore(moved, exact.all_keys))
    renamed = exact.all_keys.copy()
    renamed[2000] = "renamed.jpg"
    with pytest.raises(StructureMismatch, match="other rows or keys"):
        AnnStore.load(path, NumpyStore(exact.vectors(np.arange(4000)), renamed))
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    with pytest.raises(StructureMismatch, match="unreadable"):
        AnnStore.load(path, exact)
    path.write_bytes(b"garbage")
    with pytest.raises(StructureMismatch, match="unreadable"):
        AnnStore.load(path, exact)
    with pytest.raises(StructureMismatch, match="unreadable"):
        AnnStore.load(tmp_path / "missing.vmi", exact)


def test_auto_is_exact_for_small_galleries_and_approximate_for_large_ones(monkeypatch):
    assert choose_kind(AUTO_EXACT_BELOW - 1) == "exact"
    assert choose_kind(AUTO_EXACT_BELOW) == "ann"
    assert choose_kind(10, "ann") == "ann" and choose_kind(10**7, "exact") == "exact"
    with pytest.raises(ValueError, match="exact, ann, auto"):
        choose_kind(10, "hnsw")
    monkeypatch.setattr("vistamatch.search.ann.ann_available", lambda: False)
    assert choose_kind(10**7) == "exact"  # without faiss, auto stays exact
    with pytest.raises(VistaMatchError, match="at least 40 vectors"):
        AnnStore.build(clustered_store(n=39))
    with pytest.raises(VistaMatchError, match="pip install"):
        choose_kind(10, "ann")


def test_the_saved_form_holds_faiss_bytes_once_more_at_most(exact, ann):
    import tracemalloc

    blob_size = len(ann.to_bytes())
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        saved = ann.to_bytes()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(saved) == blob_size
    # faiss's serialized array plus the output: about two sizes (a join of .tobytes() copies took three)
    assert peak < 2.3 * blob_size, (peak, blob_size)
