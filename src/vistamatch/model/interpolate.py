"""PyTorch's bicubic resampling (``F.interpolate(mode="bicubic", align_corners=False)``) in NumPy.

Used to resize DINOv2's pretrained position-embedding grid (37x37) to the patch grid of an input.
Both of PyTorch's kernels are reproduced, as separable (out, in) weight matrices per axis:

- plain bicubic: Keys cubic convolution with A = -0.75, four taps at floor(src) - 1 .. floor(src) + 2,
  source coordinate ``scale * (dst + 0.5) - 0.5``, tap indices clamped to the edges;
- antialiased bicubic (``antialias=True``): Keys kernel with A = -0.5 (Pillow's), centred at
  ``scale * (dst + 0.5)``; when downscaling (scale > 1) the kernel is stretched by the scale, widening
  its support from 2 to 2 * scale; taps outside the input are dropped and the weights renormalised
  to sum to 1 (no edge clamping). An axis whose length does not change is copied as is.

Like PyTorch on float32 input, the scale and the sampling positions are rounded to float32 (the
kernel itself is evaluated in float64): the weights then agree with PyTorch's to about 1e-7.

``scale`` is input/output length for a target size, and 1 / scale_factor for a scale factor
(PyTorch's default ``recompute_scale_factor=None``), which is what the original DINOv2 code uses.
"""

from __future__ import annotations

import math

import numpy as np

_KEYS_A = -0.75  # PyTorch's upsample_bicubic2d
_AA_KEYS_A = -0.5  # PyTorch's _upsample_bicubic2d_aa (as in Pillow)


def _keys_kernel(x: np.ndarray, a: float) -> np.ndarray:
    """Keys cubic convolution kernel, support |x| < 2."""
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0  # |x| <= 1
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a  # 1 < |x| < 2
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


def _as_f32(x: np.ndarray | float) -> np.ndarray:
    """Round to float32 and back: PyTorch holds scales and sampling positions in float32 for float32 input."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def _cubic_matrix(in_size: int, out_size: int, scale: float) -> np.ndarray:
    """(out, in) float64 weights of PyTorch's plain bicubic along one axis."""
    src = _as_f32(scale * (np.arange(out_size) + 0.5) - 0.5)  # (out,) source positions
    first = np.floor(src)
    offsets = np.arange(-1, 3)  # four taps
    weights = _keys_kernel((src - first)[:, None] - offsets, _KEYS_A)  # (out, 4)
    cols = np.clip(first[:, None] + offsets, 0, in_size - 1).astype(np.int64)  # edge clamping
    rows = np.broadcast_to(np.arange(out_size)[:, None], cols.shape)
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (rows, cols), weights)  # clamped taps accumulate on the edge sample
    return matrix


def _antialias_matrix(in_size: int, out_size: int, scale: float) -> np.ndarray:
    """(out, in) float64 weights of PyTorch's antialiased bicubic along one axis."""
    if in_size == out_size:
        # PyTorch's separable antialias kernel skips an axis whose length does not change, even when
        # a scale factor != 1 was given (37 * 1.01 -> 37): that axis is copied unchanged.
        return np.eye(in_size)
    stretch = max(scale, 1.0)  # widen the kernel only when downscaling
    support = 2.0 * stretch
    center = _as_f32(scale * (np.arange(out_size) + 0.5))  # (out,)
    # Taps: PyTorch's integer bounds (int64 casts truncate; only non-negative values reach them here).
    lo = np.maximum(center - support + 0.5, 0.0).astype(np.int64)
    hi = np.minimum((center + support + 0.5).astype(np.int64), in_size)
    j = np.arange(in_size)
    inside = (j >= lo[:, None]) & (j < hi[:, None])  # (out, in)
    offset = (_as_f32(j - center[:, None]) + 0.5) * _as_f32(1.0 / stretch)  # (out, in) kernel argument
    weights = _keys_kernel(_as_f32(offset), _AA_KEYS_A) * inside
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total != 0.0)


def resize_matrix(in_size: int, out_size: int, scale: float, *, antialias: bool) -> np.ndarray:
    """(out, in) float64 matrix that resamples one axis.

    ``scale`` is PyTorch's sampling step in input samples per output sample (in / out, or 1 / scale_factor).
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got in={in_size} out={out_size}")
    build = _antialias_matrix if antialias else _cubic_matrix
    return build(in_size, out_size, float(_as_f32(scale)))


def _grid_size(x: np.ndarray) -> tuple[int, int]:
    """(H, W) of a (C, H, W) or (N, C, H, W) array."""
    if x.ndim not in (3, 4):
        raise ValueError(f"expected (C, H, W) or (N, C, H, W), got shape {x.shape}")
    return x.shape[-2], x.shape[-1]


def _apply(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """rows (oh, H) @ x (..., H, W) @ cols.T (W, ow) -> (..., oh, ow) float32."""
    out = rows @ np.asarray(x, dtype=np.float64) @ cols.T
    return out.astype(np.float32)


def bicubic_resize(x: np.ndarray, out_h: int, out_w: int, *, antialias: bool = False) -> np.ndarray:
    """``F.interpolate(x, size=(out_h, out_w), mode="bicubic", align_corners=False, antialias=...)``.

    x: (C, H, W) or (N, C, H, W); returns float32 (..., out_h, out_w).
    """
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be positive, got {out_h}x{out_w}")
    h, w = _grid_size(x)
    rows = resize_matrix(h, out_h, np.float32(h) / np.float32(out_h), antialias=antialias)
    cols = resize_matrix(w, out_w, np.float32(w) / np.float32(out_w), antialias=antialias)
    return _apply(x, rows, cols)


def bicubic_scale(x: np.ndarray, scale_h: float, scale_w: float, *, antialias: bool = False) -> np.ndarray:
    """``F.interpolate(x, scale_factor=(scale_h, scale_w), mode="bicubic", align_corners=False, antialias=...)``.

    Output size floor(in * scale); sampling step 1 / scale (not in / out), as with PyTorch's default
    ``recompute_scale_factor=None``. x: (C, H, W) or (N, C, H, W); returns float32.
    """
    if scale_h <= 0 or scale_w <= 0:
        raise ValueError(f"scale factors must be positive, got {scale_h}, {scale_w}")
    h, w = _grid_size(x)
    rows = resize_matrix(h, math.floor(h * scale_h), 1.0 / scale_h, antialias=antialias)
    cols = resize_matrix(w, math.floor(w * scale_w), 1.0 / scale_w, antialias=antialias)
    return _apply(x, rows, cols)
