"""The released weights laid out for the fast forward pass (dinov2.py), done once at load.

What is folded, and why (each step saves work or memory traffic on every image; the arithmetic is
done in float64, then stored as float32):

- Linear weights are transposed to (in, out), so that every projection is `x @ w` on row-major
  arrays (no transposed operand in the matrix products).
- Each LayerNorm's scale and shift go into the projection that reads its output (norm1 into Q/K/V,
  norm2 into fc1 / SwiGLU's weights_in): `(n * s + t) @ w + b == n @ (s[:, None] * w) + (t @ w + b)`,
  so the forward pass only normalizes (ops.normalize), with no extra pass for the affine part.
- The attention scale 1 / sqrt(d) goes into the query columns (scores come out scaled).
- LayerScale (lambda1) goes into the output projections (attention's output.dense, fc2 /
  weights_out): the residual update is then a plain `h += a @ w + b`.
- Q, K and V are fused into one (D, 3D) projection, its columns ordered per group of heads (that
  group's queries | keys | values), so that a thread computes exactly the columns its own heads
  read (schedule.py decides the groups).
- The CLS token gets its position (row 0 of the table) added once.

Shapes: D hidden width, F MLP width (SwiGLU: 2F for gate | up), P = C * p * p pixels per patch,
M*M the pretrained patch grid, R register tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .config import Dinov2Config


@dataclass
class FoldedLayer:
    """One encoder block, laid out for `x @ w` (see the module docstring for what is folded in)."""

    w_qkv: np.ndarray  # (D, 3D): per head group, its query | key | value columns; norm1 folded in
    b_qkv: np.ndarray  # (3D,)
    w_o: np.ndarray  # (D, D): attention output, LayerScale 1 folded in
    b_o: np.ndarray  # (D,)
    w_in: np.ndarray  # (D, F) MLP fc1, or (D, 2F) SwiGLU gate | up; norm2 folded in
    b_in: np.ndarray
    w_out: np.ndarray  # (F, D) fc2 / weights_out, LayerScale 2 folded in
    b_out: np.ndarray  # (D,)


@dataclass
class FoldedWeights:
    """Everything the fast forward pass reads, in float32."""

    w_patch: np.ndarray  # (P, D): the patch convolution as a matrix product
    b_patch: np.ndarray  # (D,)
    cls: np.ndarray  # (D,): CLS token + its position
    pos_patch: np.ndarray  # (M*M, D): the patches' position table, resized per input (posembed.py)
    registers: np.ndarray  # (R, D), R may be 0
    ln_w: np.ndarray  # (D,): the final LayerNorm, kept as is (nothing after it to fold into)
    ln_b: np.ndarray
    head_groups: list[slice]  # heads per thread's share: the Q/K/V column layout of every layer
    layers: list[FoldedLayer]


def fold_weights(
    weights: Mapping[str, np.ndarray], config: Dinov2Config, head_groups: list[slice]
) -> FoldedWeights:
    """Checked weights (released names, dinov2.checked_weights) -> the fast model's arrays."""
    c = config
    d = c.hidden_size
    proj = weights["embeddings.patch_embeddings.projection.weight"]  # (D, C, p, p)
    pos = _f32(weights["embeddings.position_embeddings"]).reshape(-1, d)  # (1 + M*M, D)
    regs = weights.get("embeddings.register_tokens")
    mlp_in, mlp_out = ("mlp.weights_in", "mlp.weights_out") if c.use_swiglu_ffn else ("mlp.fc1", "mlp.fc2")
    qkv_scale = np.concatenate([np.full(d, c.head_dim**-0.5), np.ones(2 * d)])
    order = _qkv_order(c, head_groups)
    layers = []
    for i in range(c.num_hidden_layers):
        p = f"encoder.layer.{i}."
        att = p + "attention.attention."
        w_qkv, b_qkv = _linear(
            np.concatenate([weights[att + n + ".weight"] for n in ("query", "key", "value")]),
            np.concatenate([weights[att + n + ".bias"] for n in ("query", "key", "value")]),
            ln=(weights[p + "norm1.weight"], weights[p + "norm1.bias"]),
            out_scale=qkv_scale,
        )
        w_o, b_o = _linear(
            weights[p + "attention.output.dense.weight"],
            weights[p + "attention.output.dense.bias"],
            out_scale=weights[p + "layer_scale1.lambda1"].astype(np.float64),
        )
        w_in, b_in = _linear(
            weights[p + mlp_in + ".weight"],
            weights[p + mlp_in + ".bias"],
            ln=(weights[p + "norm2.weight"], weights[p + "norm2.bias"]),
        )
        w_out, b_out = _linear(
            weights[p + mlp_out + ".weight"],
            weights[p + mlp_out + ".bias"],
            out_scale=weights[p + "layer_scale2.lambda1"].astype(np.float64),
        )
        layers.append(
            FoldedLayer(_f32(w_qkv[:, order]), _f32(b_qkv[order]), w_o, b_o, w_in, b_in, w_out, b_out)
        )
    return FoldedWeights(
        w_patch=_f32(proj.reshape(d, -1).T),
        b_patch=_f32(weights["embeddings.patch_embeddings.projection.bias"]),
        cls=_f32(weights["embeddings.cls_token"]).reshape(d) + pos[0],
        pos_patch=_f32(pos[1:]),
        registers=_f32(regs.reshape(-1, d)) if regs is not None else np.zeros((0, d), np.float32),
        ln_w=_f32(weights["layernorm.weight"]),
        ln_b=_f32(weights["layernorm.bias"]),
        head_groups=head_groups,
        layers=layers,
    )


def _linear(
    weight: np.ndarray, bias: np.ndarray, *, ln=None, out_scale=None
) -> tuple[np.ndarray, np.ndarray]:
    """torch Linear (out, in) -> float32 (in, out) weight and bias, folding a preceding LayerNorm
    (ln = (scale, shift)) and a per-output scale; the folding is done in float64."""
    w = weight.astype(np.float64).T  # (in, out)
    b = bias.astype(np.float64)
    if ln is not None:
        scale, shift = (v.astype(np.float64) for v in ln)
        b = b + shift @ w
        w = w * scale[:, None]
    if out_scale is not None:
        w = w * out_scale
        b = b * out_scale
    return _f32(w), _f32(b)


def _qkv_order(c: Dinov2Config, head_groups: list[slice]) -> np.ndarray:
    """Q | K | V column indices reordered into one block per head group: that group's queries,
    keys, values (group heads[a:b] then owns columns 3*a*d to 3*b*d)."""
    d, hd = c.hidden_size, c.head_dim
    return np.concatenate(
        [
            np.arange(part * d + heads.start * hd, part * d + heads.stop * hd)
            for heads in head_groups
            for part in range(3)
        ]
    )


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)
