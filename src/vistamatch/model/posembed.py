"""Position-embedding table resized to an input's patch grid, as transformers / facebookresearch do."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import WeightsError
from .config import Dinov2Config

INTERPOLATIONS = ("transformers", "facebookresearch")


def interpolation_options(name: str, num_register_tokens: int) -> dict:
    """Config fields for a named interpolation behaviour.

    transformers: size=(h, w), antialias only for the with-registers family.
    facebookresearch (hub models): plain DINOv2 uses scale_factor=(grid + 0.1) / table without
    antialias; the register models use size=(h, w) with antialias (offset 0), like transformers.
    """
    if name == "transformers":
        return {"interpolate_offset": 0.0, "interpolate_antialias": None}
    if name == "facebookresearch":
        if num_register_tokens:
            return {"interpolate_offset": 0.0, "interpolate_antialias": True}
        return {"interpolate_offset": 0.1, "interpolate_antialias": False}
    raise ValueError(
        f"unknown interpolation {name!r}; choose one of {', '.join(INTERPOLATIONS)}"
    )


def patch_position_table(
    table: np.ndarray,
    config: Dinov2Config,
    grid_h: int,
    grid_w: int,
    pixels_h: int,
    pixels_w: int,
) -> np.ndarray:
    """(M*M, D) pretrained patch table -> (grid_h*grid_w, D) for this input.

    Both references return the table untouched only when the patch count matches and the image
    is square in pixels; otherwise they resample (float32, bicubic, align_corners=False).
    """
    m = config.grid_size
    if grid_h * grid_w == m * m and pixels_h == pixels_w:
        return table
    from .interpolate import bicubic_resize, bicubic_scale

    d = table.shape[-1]
    chw = np.ascontiguousarray(table.reshape(m, m, d).transpose(2, 0, 1))  # (D, M, M)
    if config.interpolate_offset:
        off = config.interpolate_offset
        resized = bicubic_scale(
            chw, (grid_h + off) / m, (grid_w + off) / m, antialias=config.antialias
        )
    else:
        resized = bicubic_resize(chw, grid_h, grid_w, antialias=config.antialias)
    if resized.shape != (d, grid_h, grid_w):
        raise WeightsError(
            f"position-embedding interpolation gave {resized.shape[1:]} for a {grid_h}x{grid_w} patch grid"
        )
    return np.ascontiguousarray(resized.reshape(d, grid_h * grid_w).T, dtype=np.float32)


class PositionTables:
    """Patch position tables by grid, each resized once (the last `size` grids are kept); thread-safe.
    `convert` turns a table into what the caller computes with (e.g. a tensor on a GPU)."""

    def __init__(
        self,
        table: np.ndarray,
        config: Dinov2Config,
        convert: Callable[[np.ndarray], Any] = lambda a: a,
        size: int = 16,
    ):
        self._table, self._config, self._convert, self._size = table, config, convert, size
        self._cache: dict[tuple[int, int, bool], Any] = {}
        self._lock = threading.Lock()

    def get(self, grid_h: int, grid_w: int, pixels_h: int, pixels_w: int) -> Any:
        key = (grid_h, grid_w, pixels_h == pixels_w)
        with self._lock:
            table = self._cache.get(key)
        if table is None:
            table = self._convert(
                patch_position_table(self._table, self._config, grid_h, grid_w, pixels_h, pixels_w)
            )
            with self._lock:
                if len(self._cache) >= self._size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = table
        return table
