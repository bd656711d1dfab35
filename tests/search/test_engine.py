
import numpy as np
import pytest

from vistamatch.errors import ImageLoadError, IndexMismatchError
from vistamatch.imaging import PreprocessConfig
from vistamatch.index import IndexPaths, build_index, open_index
from vistamatch.model import load_model, random_state_dict, save_weights
from vistamatch.search import SearchEngine


@pytest.fixture(scope="module")
def engine(photo_gallery, tiny_weights, tmp_path_factory):
    model = load_model(tiny_weights)
    paths = IndexPaths.in_dir(tmp_path_factory.mktemp("idx"))
    build_index(photo_gallery, model, paths, progress=False)
    return SearchEngine(model, open_index(paths))


def test_a_gallery_image_finds_itself_first(engine, photo_gallery):
    query = next(photo_gallery.glob("*.png"))
    result = engine.search_image(query, topk=5)
    assert result.hits[0].filename == query.name
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert result.topk_returned == 5 and result.gallery_size == 8
    assert set(result.timing_ms) == {"preprocess", "embed", "search", "dedup_filter", "total"}
    assert result.timing_ms["total"] >= result.timing_ms["embed"] > 0
    assert result.to_dict()["tiers"][0]["items"][0]["filename"] == query.name


def test_bytes_and_a_stored_vector_give_the_same_ranking(engine, photo_gallery):
    query = photo_gallery / "sub" / "coffee.webp"
    by_path = engine.search_image(query, topk=8, dedup=False)
    by_bytes = engine.search_image(query.read_bytes(), topk=8, dedup=False, name="upload.webp")
    similar = engine.search_similar("sub/coffee.webp", topk=8, dedup=False)
    assert [h.filename for h in by_path.hits] == [h.filename for h in by_bytes.hits] == [h.filename for h in similar.hits]
    np.testing.assert_allclose([h.score for h in by_path.hits], [h.score for h in similar.hits], atol=1e-5)


def test_a_bad_upload_raises_the_loader_error(engine):
    with pytest.raises(ImageLoadError):
        engine.search_image(b"GIF89a not really", name="x.gif")


def test_other_weights_or_preprocessing_are_refused(engine, tiny_config, tmp_path):
    other = tmp_path / "other.npz"
    save_weights(random_state_dict(tiny_config, seed=1), other)
    with pytest.raises(IndexMismatchError, match="re-index"):
        SearchEngine(load_model(other), engine.index)
    with pytest.raises(IndexMismatchError, match="other preprocessing"):
        SearchEngine(engine.embedder, engine.index, PreprocessConfig(mode="center_crop"))


def test_the_index_preprocessing_is_used_by_default(photo_gallery, tiny_weights, tmp_path):
    model = load_model(tiny_weights)
    paths = IndexPaths.in_dir(tmp_path)
    build_index(photo_gallery, model, paths, PreprocessConfig(mode="center_crop"), progress=False)
    engine = SearchEngine(model, open_index(paths))
    assert engine.preprocess.mode == "center_crop"
    assert engine.search_image(photo_gallery / "astronaut.jpg", topk=1).hits[0].score == pytest.approx(1.0, abs=1e-5)
