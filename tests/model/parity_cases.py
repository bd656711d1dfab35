"""What the parity fixtures hold: model families, input shapes, and the deterministic inputs.

Shared by tools/make_parity_fixtures.py (writes the goldens with torch + transformers) and the
tests (read them back without torch). Inputs are computed from integer hashing, so both sides
get bit-identical arrays without storing them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"
GOLDENS = FIXTURES / "parity_goldens.npz"

# name -> (transformers config fields, weights file). Small sizes keep the files under 1 MB in all.
FAMILIES = {
    "dinov2-mlp": (
        {
            "hidden_size": 32,
            "num_hidden_layers": 3,
            "num_attention_heads": 2,
            "image_size": 518,
            "use_swiglu_ffn": False,
        },
        "dinov2-mlp.safetensors",
    ),
    "dinov2-swiglu": (
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 224,
            "use_swiglu_ffn": True,
        },
        "dinov2-swiglu.npz",
    ),
    "registers-mlp": (
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 224,
            "patch_size": 16,  # the registers config's default: the patch size is read from the weights too
            "num_register_tokens": 4,
        },
        "registers-mlp.npz",
    ),
    "registers-swiglu": (
        {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 518,
            "patch_size": 14,
            "num_register_tokens": 4,
            "use_swiglu_ffn": True,
        },
        "registers-swiglu.safetensors",
    ),
}

# (batch, height, width): square, non-square, smaller than the table; 518 = the table itself (no resize)
SHAPES = [(2, 224, 224), (2, 224, 308), (3, 98, 140), (1, 518, 518), (1, 518, 532)]


def parity_input(batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """(batch, 3, height, width) float32 in [-2, 2), from an integer hash of the indices."""
    b, c, i, j = np.meshgrid(
        np.arange(batch),
        np.arange(3),
        np.arange(height),
        np.arange(width),
        indexing="ij",
        sparse=True,
    )
    h = (
        b * 2654435761 + c * 40503 + i * 73856093 + j * 19349663 + seed * 83492791
    ) % 1000003
    h = (h * h + 12345) % 65536
    return (h.astype(np.float32) / np.float32(16384.0) - np.float32(2.0)).astype(
        np.float32
    )


def golden_key(
    family: str, shape: tuple[int, int, int], interpolation: str = "transformers"
) -> str:
    b, h, w = shape
    return f"{family}/{interpolation}/{b}x{h}x{w}"
