"""Do two embedders give the same vectors? Checked in the tests, and before one embedder takes over
from another on an index (its rows must stay comparable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import VistaMatchError
from .base import Embedder

# float32 on either side (our NumPy model vs torch): ~1e-7 from 1; bfloat16 on real photos ~1e-5.
DEFAULT_MIN_COSINE = 0.9999


class EmbedderMismatchError(VistaMatchError):
    """Two embedders that should agree do not (other weights, or too little precision)."""


@dataclass(frozen=True)
class Agreement:
    images: int
    cosine_min: float
    cosine_mean: float
    max_abs: float

    def __str__(self) -> str:
        return (
            f"{self.images} images: cosine min {self.cosine_min:.7f}, mean {self.cosine_mean:.7f}, "
            f"max abs diff {self.max_abs:.2e}"
        )


def measure_agreement(a: Embedder, b: Embedder, batch: np.ndarray) -> Agreement:
    """Both embedders on the same (B, 3, H, W) batch; their rows compared one to one."""
    if a.dim != b.dim:
        raise EmbedderMismatchError(f"{a.name} gives {a.dim}-d vectors, {b.name} {b.dim}-d")
    return compare_vectors(a.embed(batch), b.embed(batch))


def compare_vectors(va: np.ndarray, vb: np.ndarray) -> Agreement:
    """Two (B, D) sets of unit rows compared one to one."""
    va, vb = va.astype(np.float64), vb.astype(np.float64)
    cosines = np.sum(va * vb, axis=1)  # rows are unit length
    return Agreement(len(va), float(cosines.min()), float(cosines.mean()), float(np.abs(va - vb).max()))


def check_agreement(
    a: Embedder, b: Embedder, batch: np.ndarray, min_cosine: float = DEFAULT_MIN_COSINE
) -> Agreement:
    """`measure_agreement`, refused unless both have the same weights and every cosine >= min_cosine."""
    if a.fingerprint != b.fingerprint:
        raise EmbedderMismatchError(f"{a.name} and {b.name} embedders were built from different weights")
    agreement = measure_agreement(a, b, batch)
    if not agreement.cosine_min >= min_cosine:
        raise EmbedderMismatchError(
            f"{a.describe()} and {b.describe()} disagree: {agreement} (need cosine >= {min_cosine})"
        )
    return agreement
