"""DINOv2 in NumPy: the model, its configuration and weight files."""

from .config import Dinov2Config
from .dinov2 import Dinov2, load_model
from .hub import MODELS, fetch_weights, resolve_weights
from .keys import to_released
from .weights import StateDict, random_state_dict, read_weights, save_weights

__all__ = [
    "MODELS",
    "Dinov2",
    "Dinov2Config",
    "StateDict",
    "fetch_weights",
    "load_model",
    "random_state_dict",
    "read_weights",
    "resolve_weights",
    "save_weights",
    "to_released",
]
