"""Image files and uploads -> upright RGB images -> (1, 3, H, W) float32 model inputs.

``load_image`` decodes robustly (one error type, EXIF orientation, alpha on white),
``preprocess`` resizes and normalises, ``load_and_preprocess`` does both and is what the
indexer, the CLI and the server call. Every decode is bounded by the decode budget (``budget``).
"""

from .budget import DEFAULT_DECODE_BUDGET_MB, decode_budget_from_env
from .formats import IMAGE_EXTENSIONS
from .geometry import PreprocessConfig, source_box, target_size
from .loading import DEFAULT_MAX_PIXELS, DecodedImage, decode_image, decoding, load_image
from .modes import to_rgb
from .pipeline import DRAFT_FACTOR, draft_size_for, load_and_preprocess, preprocess_decoded
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, preprocess, resize_and_normalize

__all__ = [
    "DEFAULT_DECODE_BUDGET_MB",
    "DEFAULT_MAX_PIXELS",
    "DRAFT_FACTOR",
    "IMAGE_EXTENSIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DecodedImage",
    "PreprocessConfig",
    "decode_budget_from_env",
    "decode_image",
    "decoding",
    "draft_size_for",
    "load_and_preprocess",
    "load_image",
    "preprocess",
    "preprocess_decoded",
    "resize_and_normalize",
    "source_box",
    "target_size",
    "to_rgb",
]
