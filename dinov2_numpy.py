"""The original project's `dinov2_numpy` module, now backed by `vistamatch.model`.

    import numpy as np
    from dinov2_numpy import Dinov2Numpy
    vit = Dinov2Numpy(np.load("vit-dinov2-base.npz"))
    features = vit(pixel_values)          # (B, 3, H, W) float32 -> (B, 768) CLS embedding

New code should use `vistamatch.load_model(path)`, which reads .npz or .safetensors with any
supported key names and reads the architecture from the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from vistamatch.model import Dinov2, Dinov2Config, load_model, read_weights, to_released
from vistamatch.model.config import config_from_state_dict
from vistamatch.model.weights import from_npz

__all__ = ["Dinov2", "Dinov2Config", "Dinov2Numpy", "load_model"]


class Dinov2Numpy(Dinov2):
    """`Dinov2Numpy(weights, config=None)` as in the original file. `weights`: an `np.load(...)`
    result, a name -> array mapping or a file path; `config`: the original dict, of which only
    "num_heads" is used (everything else is read from the weights)."""

    def __init__(self, weights: Any, config: Mapping[str, Any] | None = None):
        if isinstance(weights, (str, os.PathLike)):
            weights = read_weights(weights)
        if isinstance(weights, np.lib.npyio.NpzFile):
            weights = from_npz(weights)
        released = to_released(weights)
        heads = (config or {}).get("num_heads")
        overrides = {"num_attention_heads": int(heads)} if heads else {}
        super().__init__(
            released,
            config_from_state_dict(
                released, getattr(weights, "metadata", None), **overrides
            ),
        )
