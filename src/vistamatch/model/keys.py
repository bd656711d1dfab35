"""Weight key styles: released (transformers save_pretrained), transformers-5 in-memory, facebookresearch.

Everything is mapped to the released names on load; files are always written with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

# Wrappers some files put in front of the backbone's names.
_PREFIXES = ("dinov2_with_registers.", "dinov2.", "model.", "backbone.", "module.")
# Heads and extras that are not part of the backbone.
_IGNORED = re.compile(r"^(classifier|head|pooler|dino_head|ibot_head)\.")

# transformers 5 renames (conversion_mapping.py, Dinov2Model / Dinov2WithRegistersModel), reversed.
_TRANSFORMERS5 = (
    (".attention.q_proj.", ".attention.attention.query."),
    (".attention.k_proj.", ".attention.attention.key."),
    (".attention.v_proj.", ".attention.attention.value."),
    (".attention.o_proj.", ".attention.output.dense."),
    (".mlp.down_proj.", ".mlp.weights_out."),
)

_FB_TOP = {
    "cls_token": "embeddings.cls_token",
    "mask_token": "embeddings.mask_token",
    "pos_embed": "embeddings.position_embeddings",
    "register_tokens": "embeddings.register_tokens",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}
_FB_BLOCK = {
    "norm1": "norm1",
    "norm2": "norm2",
    "attn.proj": "attention.output.dense",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "mlp.w12": "mlp.weights_in",
    "mlp.w3": "mlp.weights_out",
}
# blocks.N.rest, or blocks.CHUNK.N.rest in chunked checkpoints (N is the global index there)
_FB_BLOCK_RE = re.compile(r"^blocks\.(?:\d+\.)?(\d+)\.(.+)$")


def detect_style(keys: list[str]) -> str:
    """'facebookresearch', 'transformers5' or 'released'."""
    if any(k.startswith("blocks.") or k == "pos_embed" for k in keys):
        return "facebookresearch"
    if any(".q_proj." in k or ".gate_proj." in k or ".o_proj." in k for k in keys):
        return "transformers5"
    return "released"


def to_released(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map any supported key style to the released names (arrays are shared, not copied)."""
    stripped = {}
    for key, value in state_dict.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        if not _IGNORED.match(key):
            stripped[key] = value
    style = detect_style(list(stripped))
    if style == "facebookresearch":
        return _from_facebookresearch(stripped)
    if style == "transformers5":
        return _from_transformers5(stripped)
    return stripped


def _from_transformers5(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in sd.items():
        if ".mlp.gate_proj." in key:
            up = sd.get(key.replace(".gate_proj.", ".up_proj."))
            if up is not None:
                # SwiGLU: weights_in = concat(gate, up) along the output dimension
                # (transformers chunks it in two)
                fused = np.concatenate([value, up], axis=0)
                out[key.replace(".gate_proj.", ".weights_in.")] = fused
                continue
        elif ".mlp.up_proj." in key and key.replace(".up_proj.", ".gate_proj.") in sd:
            continue  # joined with its gate
        # an unpaired gate or up keeps its name: reported as unexpected by the shape check
        for old, new in _TRANSFORMERS5:
            key = key.replace(old, new)
        out[key] = value
    return out


def _from_facebookresearch(sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in sd.items():
        if key in _FB_TOP:
            out[_FB_TOP[key]] = value
            continue
        m = _FB_BLOCK_RE.match(key)
        if not m:
            out[key] = value  # reported as unexpected by the shape check
            continue
        layer, rest = m.groups()
        pre = f"encoder.layer.{layer}."
        module, _, param = rest.rpartition(".")
        if module == "attn.qkv":
            # (3D, D) rows: query, key, value
            for name, part in zip(
                ("query", "key", "value"), np.split(value, 3, axis=0)
            ):
                out[pre + f"attention.attention.{name}.{param}"] = part
        elif module in ("ls1", "ls2") and param == "gamma":
            out[pre + f"layer_scale{module[-1]}.lambda1"] = value
        elif module in _FB_BLOCK:
            out[pre + f"{_FB_BLOCK[module]}.{param}"] = value
        else:
            out[key] = value
    return out


def released_to_facebookresearch(sd: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse mapping, for `weights convert --style facebookresearch` and tests."""
    top = {v: k for k, v in _FB_TOP.items()}
    block = {v: k for k, v in _FB_BLOCK.items()}
    out: dict[str, np.ndarray] = {}
    for key, value in sd.items():
        if key in top:
            out[top[key]] = value
            continue
        m = re.match(r"^encoder\.layer\.(\d+)\.(.+)\.(\w+)$", key)
        if not m:
            out[key] = value
            continue
        layer, module, param = m.groups()
        pre = f"blocks.{layer}."
        if module == "attention.attention.query":
            parts = [
                sd[key.replace(".query.", f".{n}.")] for n in ("query", "key", "value")
            ]
            out[pre + f"attn.qkv.{param}"] = np.concatenate(parts, axis=0)
        elif module.startswith("attention.attention."):
            continue
        elif module.startswith("layer_scale"):
            out[pre + f"ls{module[-1]}.gamma"] = value
        else:
            out[pre + f"{block[module]}.{param}"] = value
    return out


def released_to_transformers5(sd: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of transformers 5's renaming (what a transformers-5 model's state_dict() holds)."""
    out: dict[str, np.ndarray] = {}
    for key, value in sd.items():
        if ".mlp.weights_in." in key:
            gate, up = np.split(value, 2, axis=0)
            out[key.replace(".weights_in.", ".gate_proj.")] = gate
            out[key.replace(".weights_in.", ".up_proj.")] = up
            continue
        for new, old in _TRANSFORMERS5:
            key = key.replace(old, new)
        out[key] = value
    return out


STYLES = ("released", "transformers5", "facebookresearch")


def from_released(sd: Mapping[str, np.ndarray], style: str) -> dict[str, np.ndarray]:
    if style == "released":
        return dict(sd)
    if style == "transformers5":
        return released_to_transformers5(sd)
    if style == "facebookresearch":
        return released_to_facebookresearch(sd)
    raise ValueError(f"unknown key style {style!r}; choose one of {', '.join(STYLES)}")
