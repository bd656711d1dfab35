"""What every embedder offers: preprocessed images in, unit-length float32 vectors out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..model import Dinov2Config


@runtime_checkable
class Embedder(Protocol):
    """A batch of model inputs -> their L2-normalised CLS embeddings.

    `fingerprint` is the weights' (model/dinov2.py): the identity of an index, whichever embedder
    computed its rows. Embedders of the same weights agree to within their precision (agreement.py).
    """

    name: str  # "numpy" or "torch"
    fingerprint: str
    config: Dinov2Config

    @property
    def dim(self) -> int:
        """Output width D."""

    @property
    def device(self) -> str:
        """Where the model runs: "cpu", "cuda", "cuda:1", ..."""

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 preprocessed images -> (B, D) float32, each row of unit length."""

    def describe(self) -> str:
        """One line for logs and /stats: embedder, device, precision, model."""
