"""The root preprocess_image.py keeps the original names working."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vistamatch.errors import ImageLoadError
from vistamatch.imaging import PreprocessConfig, load_and_preprocess

from .helpers import write

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wrapper():
    spec = importlib.util.spec_from_file_location("preprocess_image", ROOT / "preprocess_image.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resize_short_side(tmp_path, photos, wrapper):
    path = write(tmp_path, "rocket.jpg", photos["rocket"], "JPEG")
    x = wrapper.resize_short_side(str(path))
    assert x.shape == (1, 3, 224, 336) and x.dtype == np.float32
    assert np.array_equal(x, load_and_preprocess(path))
    assert wrapper.resize_short_side(path, target_size=112).shape == (1, 3, 112, 168)


def test_preprocess_image(tmp_path, photos, wrapper):
    path = write(tmp_path, "coffee.png", photos["coffee"], "PNG")
    assert np.array_equal(wrapper.preprocess_image(path), load_and_preprocess(path))
    assert np.array_equal(
        wrapper.preprocess_image(path, mode="center_crop"), load_and_preprocess(path, PreprocessConfig("center_crop"))
    )


def test_broken_file_raises_the_clear_error(tmp_path, wrapper):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError, match="broken.jpg: not an image"):
        wrapper.resize_short_side(path)


def test_script(tmp_path, photos):
    path = write(tmp_path, "cat.webp", photos["chelsea"], "WEBP")
    done = subprocess.run([sys.executable, str(ROOT / "preprocess_image.py"), str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path} (1, 3, 224, 336)"
