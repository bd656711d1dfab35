"""The original project's preprocess_image.py, kept for its users: see vistamatch.imaging.

    python preprocess_image.py photo.jpg    # prints the model-input shape
"""

from __future__ import annotations

import sys

import numpy as np

from vistamatch.imaging import PreprocessConfig, load_and_preprocess, load_image


def resize_short_side(img_path, target_size: int = 224, patch_size: int = 14) -> np.ndarray:
    """(1, 3, H, W) float32: short side ``target_size``, both sides multiples of ``patch_size``."""
    return load_and_preprocess(img_path, PreprocessConfig(size=target_size, patch_size=patch_size))


def preprocess_image(img_path, mode: str = "resize") -> np.ndarray:
    """The model input for an image file; ``mode`` "resize" (original) or "center_crop"."""
    return load_and_preprocess(img_path, PreprocessConfig(mode=mode))


__all__ = ["load_image", "preprocess_image", "resize_short_side"]

if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(path, resize_short_side(path).shape)
