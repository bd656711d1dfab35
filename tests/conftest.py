"""Shared fixtures: real photos (scikit-image's sample images) and tiny random DINOv2 weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# scikit-image ships these photos in its wheel: no download at test time.
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel", "camera", "coins")


def sample_photo(name: str) -> Image.Image:
    from skimage import data

    arr = getattr(data, name)()
    return Image.fromarray(np.ascontiguousarray(arr))


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    """The sample photos as RGB (grayscale ones converted), by name."""
    return {name: sample_photo(name).convert("RGB") for name in PHOTO_NAMES}


@pytest.fixture(scope="session")
def photo_gallery(tmp_path_factory, photos) -> Path:
    """A small gallery of real photos in several formats, one in a sub-folder."""
    root = tmp_path_factory.mktemp("gallery")
    formats = [("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("tiff", "TIFF"), ("gif", "GIF")]
    for i, (name, img) in enumerate(photos.items()):
        ext, fmt = formats[i % len(formats)]
        folder = root / "sub" if i % 3 == 2 else root
        folder.mkdir(exist_ok=True)
        img.save(folder / f"{name}.{ext}", format=fmt)
    return root


@pytest.fixture(scope="session")
def tiny_config():
    from vistamatch.model import Dinov2Config

    return Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_config) -> Path:
    """A .npz of small random weights with the real DINOv2 key names."""
    from vistamatch.model import random_state_dict, save_weights

    path = tmp_path_factory.mktemp("weights") / "tiny-dinov2.npz"
    save_weights(random_state_dict(tiny_config, seed=0), path)
    return path
