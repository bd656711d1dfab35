"""Write the parity fixtures: small random-weight DINOv2 models of every family, built with
transformers, and their reference CLS outputs (pooler_output) on deterministic inputs.

    python tools/make_parity_fixtures.py        # needs torch and transformers: pip install -e '.[parity]'

Weights are written from save_pretrained's file (released key names), with the head count added as
metadata; outputs go to tests/model/fixtures/parity_goldens.npz. The tests then compare the NumPy
model to these goldens without torch. The facebookresearch interpolation (scale_factor with the
+0.1 offset, no antialias) is referenced by swapping in that resize for the plain DINOv2 families.
"""

from __future__ import annotations

import math
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import (
    Dinov2Config,
    Dinov2Model,
    Dinov2WithRegistersConfig,
    Dinov2WithRegistersModel,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "model"))

from parity_cases import FAMILIES, FIXTURES, GOLDENS, SHAPES, golden_key, parity_input

from vistamatch.model import StateDict, save_weights

SEED = 0


def build_reference(fields: dict, seed: int) -> torch.nn.Module:
    """A transformers model with random weights at realistic scales (LayerScale 0.1 .. 1, tokens ~0.5)."""
    torch.manual_seed(seed)
    if fields.get("num_register_tokens"):
        model = Dinov2WithRegistersModel(Dinov2WithRegistersConfig(**fields))
    else:
        model = Dinov2Model(Dinov2Config(**fields))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lambda1"):
                param.uniform_(0.1, 1.0)
            elif name.endswith(
                ("cls_token", "register_tokens", "position_embeddings", "mask_token")
            ):
                param.normal_(0.0, 0.5)
            elif "norm" in name and name.endswith("weight"):
                param.normal_(1.0, 0.1)
            elif name.endswith("bias"):
                param.normal_(0.0, 0.02)
            else:
                param.normal_(0.0, 1.0 / math.sqrt(param[0].numel()))
    return model.eval()


def facebookresearch_interpolation(
    self, embeddings: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """facebookresearch/dinov2 interpolate_pos_encoding: scale_factor = (grid + 0.1) / table."""
    pos = self.position_embeddings.float()
    n = pos.shape[1] - 1
    if embeddings.shape[1] - 1 == n and height == width:
        return pos
    m = int(math.sqrt(n))
    h0, w0 = height // self.patch_size, width // self.patch_size
    patch = torch.nn.functional.interpolate(
        pos[:, 1:].reshape(1, m, m, -1).permute(0, 3, 1, 2),
        scale_factor=((h0 + 0.1) / m, (w0 + 0.1) / m),
        mode="bicubic",
        antialias=False,
    )
    assert patch.shape[-2:] == (h0, w0)
    return torch.cat(
        (pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, h0 * w0, -1)), dim=1
    )


def released_weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """The tensors as save_pretrained writes them (the released key names)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        weights = load_file(str(Path(tmp) / "model.safetensors"))
    assert any(".attention.attention.query." in k for k in weights), (
        "save_pretrained no longer writes released names"
    )
    return weights


def main() -> int:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    goldens: dict[str, np.ndarray] = {}
    for index, (family, (fields, filename)) in enumerate(FAMILIES.items()):
        model = build_reference(fields, SEED + index)
        weights = StateDict(
            released_weights(model), {"vistamatch_config": _meta(fields)}
        )
        save_weights(weights, FIXTURES / filename)
        goldens.update(_outputs(model, family, index, "transformers"))
        if not fields.get("num_register_tokens"):
            model.embeddings.interpolate_pos_encoding = types.MethodType(
                facebookresearch_interpolation, model.embeddings
            )
            goldens.update(_outputs(model, family, index, "facebookresearch"))
        print(
            f"{family}: {FIXTURES / filename} ({(FIXTURES / filename).stat().st_size // 1024} KiB)"
        )
    np.savez(GOLDENS, **goldens)
    print(
        f"{len(goldens)} golden outputs: {GOLDENS} ({GOLDENS.stat().st_size // 1024} KiB)"
    )
    return 0


def _outputs(
    model: torch.nn.Module, family: str, seed: int, interpolation: str
) -> dict[str, np.ndarray]:
    """golden key -> the reference CLS output (pooler_output) for every input shape."""
    out = {}
    for shape in SHAPES:
        x = torch.from_numpy(parity_input(*shape, seed=seed))
        with torch.no_grad():
            out[golden_key(family, shape, interpolation)] = model(
                pixel_values=x
            ).pooler_output.numpy()
    return out


def _meta(fields: dict) -> str:
    import json

    return json.dumps(
        {"num_attention_heads": fields["num_attention_heads"], "layer_norm_eps": 1e-6}
    )


if __name__ == "__main__":
    sys.exit(main())
