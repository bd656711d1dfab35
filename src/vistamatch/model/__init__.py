"""DINOv2 in NumPy: the model, its configuration and weight files."""

from .config import Dinov2Config
from .dinov2 import Dinov2, load_model
from .hub import MODELS, fetch_weights, resolve_weights
from .keys import to_released
from .weights import StateDict, read_weights, random_state_dict, save_weights

__all__ = [
    "Dinov2",
    "Dinov2Config",
    "MODELS",
    "StateDict",
    "fetch_weights",
    "load_model",
    "random_state_dict",
    "read_weights",
    "resolve_weights",
    "save_weights",
    "to_released",
]
