"""wiring.py: the CLI's and the server's one way to an embedder, an index update and an engine."""

from __future__ import annotations

import pytest

from vistamatch.embed import EmbedderSpec, NumpyEmbedder
from vistamatch.embed.load import EmbedderChoiceError
from vistamatch.imaging import PreprocessConfig
from vistamatch.index import IndexPaths
from vistamatch.index.manifest import read_summary
from vistamatch.server import Settings, load_engine
from vistamatch.wiring import open_engine, update_index


def test_an_update_keeps_the_preprocessing_the_index_was_built_with(photo_gallery, tiny_weights, tmp_path):
    spec, paths = EmbedderSpec(str(tiny_weights), "numpy"), IndexPaths.in_dir(tmp_path)
    update_index(photo_gallery, spec, paths, preprocess=PreprocessConfig(mode="center_crop"), progress=False)
    report = update_index(photo_gallery, spec, paths, progress=False)
    assert report.embedded == 0 and read_summary(paths.manifest).preprocess["mode"] == "center_crop"
    engine = open_engine(spec.load(), paths)
    assert isinstance(engine.embedder, NumpyEmbedder) and engine.preprocess.mode == "center_crop"
    assert engine.search_image(photo_gallery / "astronaut.jpg", topk=1).hits[0].filename == "astronaut.jpg"


def test_the_server_takes_its_embedder_from_the_settings(photo_gallery, tiny_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("VISTAMATCH_EMBEDDER", "numpy")
    monkeypatch.setenv("VISTAMATCH_DEVICE", "cpu")
    monkeypatch.setenv("VISTAMATCH_DTYPE", "bfloat16")
    settings = Settings.from_env(gallery_dir=photo_gallery, weights=str(tiny_weights))
    assert (settings.embedder, settings.device, settings.dtype) == ("numpy", "cpu", "bfloat16")
    with pytest.raises(EmbedderChoiceError, match="numpy embedder computes in float32 only"):
        load_engine(Settings.for_folder(photo_gallery, tmp_path, tiny_weights, embedder="numpy", dtype="bfloat16"))
    loaded = load_engine(Settings.for_folder(photo_gallery, tmp_path, tiny_weights))
    assert loaded.model_backend in ("numpy", "mkl") and loaded.gallery_size == 8


def test_executor_ray_without_ray_says_how_to_install_it(photo_gallery, tiny_weights, tmp_path, monkeypatch):
    from vistamatch.index.ray_build import RayUnavailableError

    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray -> ImportError
    spec = EmbedderSpec(str(tiny_weights), "numpy")
    with pytest.raises(RayUnavailableError, match=r"pip install 'vistamatch\[ray\]'"):
        update_index(photo_gallery, spec, IndexPaths.in_dir(tmp_path), executor="ray", progress=False)
    assert not IndexPaths.in_dir(tmp_path).exists()
