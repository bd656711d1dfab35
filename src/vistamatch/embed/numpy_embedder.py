"""The default embedder: our NumPy model (OpenBLAS or MKL kernels) on the CPU."""

from __future__ import annotations

import os

import numpy as np

from ..model import Dinov2, load_model
from ..search.store import l2_normalize


class NumpyEmbedder:
    name = "numpy"
    device = "cpu"

    def __init__(self, model: Dinov2):
        self.model = model
        self.config = model.config
        self.fingerprint = model.fingerprint

    @classmethod
    def from_weights(
        cls,
        path: str | os.PathLike,
        *,
        threads: int | None = None,
        backend: str | None = None,
        **model_options,
    ) -> NumpyEmbedder:
        """model_options: those of `load_model` (interpolation, num_attention_heads, ...)."""
        return cls(load_model(path, threads=threads, backend=backend, **model_options))

    @property
    def dim(self) -> int:
        return self.config.hidden_size

    def embed(self, batch: np.ndarray) -> np.ndarray:
        return l2_normalize(self.model(batch))

    def describe(self) -> str:
        return (
            f"numpy ({self.model.backend} kernels, {self.model.threads} threads, float32) "
            f"on cpu: {self.config.describe()}"
        )
