"""Embedders: preprocessed images -> unit-length vectors, by our NumPy model or by PyTorch (CUDA or
CPU), from the same weights file; `load_embedder` picks one, `feed` keeps it busy."""

from .agreement import Agreement, EmbedderMismatchError, check_agreement, compare_vectors, measure_agreement
from .base import Embedder
from .feed import FeedStats, decoded_batches, embedded_batches
from .load import KINDS, EmbedderSpec, as_embedder, embedder_key, load_embedder
from .numpy_embedder import NumpyEmbedder
from .torch_embedder import TorchEmbedder, TorchUnavailableError

__all__ = [
    "KINDS",
    "Agreement",
    "Embedder",
    "EmbedderMismatchError",
    "EmbedderSpec",
    "FeedStats",
    "NumpyEmbedder",
    "TorchEmbedder",
    "TorchUnavailableError",
    "as_embedder",
    "check_agreement",
    "compare_vectors",
    "decoded_batches",
    "embedded_batches",
    "embedder_key",
    "load_embedder",
    "measure_agreement",
]
