"""Float32 building blocks of the forward pass: erf/GELU, LayerNorm, softmax, row-parallel execution.

NumPy ufuncs run on one core, so the element-wise steps are split into row blocks (small enough to
stay in cache) and spread over a thread pool; NumPy releases the GIL inside ufuncs.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

# Abramowitz & Stegun 7.1.26: erfc(a) ~= poly(t) * exp(-a^2), t = 1 / (1 + P a), a >= 0; |error| <= 1.5e-7
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)

# Rows per block: about 64K float32 values per buffer keeps a block's scratch in L2.
_BLOCK_VALUES = 65536


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorised float32 erf (max abs error ~2e-7)."""
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x)
    t = np.reciprocal(np.float32(1) + np.float32(_P) * a)
    poly = _horner(t, _A)
    erfc = poly * np.exp(-(a * a))
    return np.copysign(np.float32(1) - erfc, x)


def _horner(t: np.ndarray, coefs: tuple[float, ...]) -> np.ndarray:
    """sum(c_i * t^(i+1)), evaluated in place in one new buffer."""
    r = t * np.float32(coefs[-1])
    for c in reversed(coefs[:-1]):
        r += np.float32(c)
        r *= t
    return r


# gelu(x) = x/2 (1 + erf(x/sqrt2)) = relu(x) - |x|/2 erfc(|x|/sqrt2): no sign select needed.
_GELU_P = _P / math.sqrt(2.0)
_GELU_A = tuple(0.5 * c for c in _A)


def gelu_(x: np.ndarray) -> None:
    """Exact (erf) GELU, in place on a float32 block."""
    a = np.abs(x)
    t = a * np.float32(_GELU_P)
    t += np.float32(1)
    np.reciprocal(t, out=t)
    half_erfc = _horner(t, _GELU_A)
    np.multiply(a, a, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    half_erfc *= t
    half_erfc *= a
    np.maximum(x, np.float32(0), out=x)
    x -= half_erfc


def silu_mul_(gate: np.ndarray, up: np.ndarray) -> None:
    """gate <- silu(gate) * up, in place (SwiGLU)."""
    s = np.negative(gate)
    np.exp(s, out=s)
    s += np.float32(1)
    gate /= s
    gate *= up


def softmax_(x: np.ndarray) -> None:
    """Softmax over the last axis, in place, float32."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float, out: np.ndarray) -> None:
    """LayerNorm over the last axis (biased variance, as torch), written into out."""
    mean = x.mean(axis=-1, keepdims=True)
    np.subtract(x, mean, out=out)
    var = np.einsum("ij,ij->i", out, out)[:, None]
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(eps)
    np.sqrt(var, out=var)
    out /= var
    out *= weight
    out += bias


def default_threads() -> int:
    """CPU cores this process may use, capped by OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when set."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            n = min(n, int(value))
    return max(1, n)


class RowPool:
    """Runs a per-block function over the rows of 2-D arrays, blocks spread over threads."""

    def __init__(self, threads: int):
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="vistamatch-rows") if threads > 1 else None

    def run(self, fn: Callable[..., None], *arrays: np.ndarray) -> None:
        """fn(*blocks) for aligned row blocks of the given 2-D arrays (same row count)."""
        rows, width = arrays[0].shape
        step = max(1, _BLOCK_VALUES // max(1, width))
        starts = range(0, rows, step)
        if self._pool is None or len(starts) == 1:
            for s in starts:
                fn(*(a[s : s + step] for a in arrays))
            return
        # one task per thread, each walking its own contiguous share of blocks
        share = -(-len(starts) // self.threads)
        groups = [starts[i : i + share] for i in range(0, len(starts), share)]

        def work(group: range) -> None:
            for s in group:
                fn(*(a[s : s + step] for a in arrays))

        for future in [self._pool.submit(work, g) for g in groups]:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
