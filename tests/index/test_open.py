import numpy as np
import pytest

from vistamatch.errors import IndexMismatchError, VistaMatchError
from vistamatch.imaging import PreprocessConfig
from vistamatch.index import (
    IndexMissingError,
    IndexPaths,
    UnverifiedIndexWarning,
    build_index,
    open_index,
)

from .helpers import PixelStatsModel


@pytest.fixture
def built(gallery, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build_index(gallery, PixelStatsModel(), paths, progress=False, batch_size=4)
    return paths


def test_open_maps_the_features_and_knows_the_gallery(built, gallery):
    index = open_index(built)
    assert isinstance(index.store._vectors, np.memmap)
    assert index.size == 12 and index.dim == 8 and index.verified
    assert index.resolve(index.relative_paths[0]).is_file()
    assert index.gallery_dir == gallery.resolve()
    index.check(PixelStatsModel(), PreprocessConfig())  # same model and settings: accepted
    assert not isinstance(open_index(built, mmap=False).store._vectors, np.memmap)


def test_other_weights_or_preprocessing_are_refused(built):
    with pytest.raises(IndexMismatchError, match=r"other weights; re-index with: vistamatch index "):
        open_index(built, model=PixelStatsModel("stats:other"))
    with pytest.raises(IndexMismatchError, match="other preprocessing"):
        open_index(built, model=PixelStatsModel(), preprocess=PreprocessConfig(mode="center_crop"))
    wide = PixelStatsModel()
    wide.config.hidden_size = 16
    with pytest.raises(IndexMismatchError, match="dimension 8, the model gives 16"):
        open_index(built, model=wide)


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexMissingError, match="vistamatch index"):
        open_index(IndexPaths.in_dir(tmp_path))


def test_an_original_project_index_is_searchable_with_a_warning(tmp_path):
    # as the original build script saved them: raw (unnormalised) features and bare file names
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((20, 8)).astype(np.float32) * 7
    paths = IndexPaths.in_dir(tmp_path)
    np.save(paths.features, raw)
    np.save(paths.mapping, np.array([f"{i:06d}.jpg" for i in range(20)]))
    with pytest.warns(UnverifiedIndexWarning, match="cannot be verified"):
        index = open_index(paths, model=PixelStatsModel(), gallery_dir=tmp_path / "gallery_images")
    rows, scores = index.store.search(raw[5], 1)
    assert index.relative_paths[rows[0]] == "000005.jpg" and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert not index.verified and index.resolve("000005.jpg") == tmp_path / "gallery_images" / "000005.jpg"


def test_files_that_disagree_are_reported(tmp_path):
    paths = IndexPaths.in_dir(tmp_path)
    np.save(paths.features, np.zeros((3, 4), np.float32))
    np.save(paths.mapping, np.array(["a", "b"]))
    with pytest.raises(VistaMatchError, match="disagree"):
        open_index(paths)
    np.save(paths.mapping, np.array(["a", "b", object()], dtype=object))
    with pytest.raises(VistaMatchError, match="unreadable index"):
        open_index(paths)


def test_opening_reads_only_the_manifest_header(built, gallery):
    text = built.manifest.read_bytes()
    cut = text.index(b'\n "files": [')
    built.manifest.write_bytes(text[:cut] + b'\n "files": [ not parsed when searching')
    index = open_index(built, model=PixelStatsModel())
    assert index.manifest.count == 12 and index.manifest.model_fingerprint == "stats:1"
    # the builder needs the records: it says so and rebuilds
    report = build_index(gallery, PixelStatsModel(), built, progress=False)
    assert "unreadable" in report.note and report.embedded == 12
    assert open_index(built).manifest.built_at  # a whole manifest again
