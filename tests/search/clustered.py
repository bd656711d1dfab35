"""Clustered unit vectors for the approximate-store tests: Gaussian clusters around random centres."""

import numpy as np

from vistamatch.search import NumpyStore, l2_normalize


def clustered_store(n: int = 4000, dim: int = 32, clusters: int = 100, seed: int = 0, prefix: str = "") -> NumpyStore:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    vectors = l2_normalize(centres[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)))
    return NumpyStore(vectors, [f"{prefix}{seed}_{i:06d}.jpg" for i in range(n)])
