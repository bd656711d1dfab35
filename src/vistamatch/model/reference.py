"""DINOv2's forward pass written plainly: float64, the weights as stored (released names), one step
after another, as in transformers' Dinov2Model / Dinov2WithRegistersModel.

The numerical reference for the fast model (dinov2.py), which folds LayerNorms and scales into its
weights and fuses the Q/K/V projections (folding.py), and shares the work between threads
(schedule.py): the tests compare the two in every run, with or without torch, and this one against
transformers' stored outputs. Slow (no threads, float64, a Python erf): for tests and for reading,
not for galleries.

Shapes: B images, C channels, H x W pixels, p patch size, N = (H // p) * (W // p) patches,
R register tokens, T = 1 + R + N tokens, D hidden width, h heads of width d = D / h, F MLP width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .config import Dinov2Config
from .posembed import patch_position_table

_erf = np.vectorize(math.erf, otypes=[np.float64])


def reference_tokens(
    weights: Mapping[str, np.ndarray], config: Dinov2Config, x: np.ndarray
) -> np.ndarray:
    """(B, C, H, W) -> (B, T, D): [CLS, registers, patches] after the final LayerNorm."""
    w = _Float64(weights)
    h = _embed(w, config, np.asarray(x, np.float64))
    for i in range(config.num_hidden_layers):
        h = _block(w, config, f"encoder.layer.{i}.", h)
    return _layer_norm(h, w["layernorm.weight"], w["layernorm.bias"], config.layer_norm_eps)


def reference_cls(
    weights: Mapping[str, np.ndarray], config: Dinov2Config, x: np.ndarray
) -> np.ndarray:
    """(B, C, H, W) -> (B, D): the CLS token after the final LayerNorm (transformers' pooler_output)."""
    return reference_tokens(weights, config, x)[:, 0]


class _Float64:
    """The weights, each read as float64."""

    def __init__(self, weights: Mapping[str, np.ndarray]):
        self._weights = weights

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self._weights[name], np.float64)


def _embed(w: _Float64, c: Dinov2Config, x: np.ndarray) -> np.ndarray:
    b, ch, height, width = x.shape
    p = c.patch_size
    gh, gw = height // p, width // p
    # the patch embedding: a p x p convolution with stride p (the remainder rows/columns dropped)
    patches = x[:, :, : gh * p, : gw * p].reshape(b, ch, gh, p, gw, p)
    patches = patches.transpose(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, ch * p * p)  # (B, N, C*p*p)
    kernel = w["embeddings.patch_embeddings.projection.weight"].reshape(c.hidden_size, -1)  # (D, C*p*p)
    body = patches @ kernel.T + w["embeddings.patch_embeddings.projection.bias"]  # (B, N, D)
    # positions: the table's first row is the CLS's, the rest is resized to this patch grid
    table = w["embeddings.position_embeddings"].reshape(-1, c.hidden_size)  # (1 + M*M, D)
    body = body + patch_position_table(table[1:], c, gh, gw, height, width)
    cls = w["embeddings.cls_token"].reshape(1, 1, -1) + table[0]  # (1, 1, D)
    parts = [np.broadcast_to(cls, (b, 1, c.hidden_size))]
    if c.num_register_tokens:  # registers get no position
        regs = w["embeddings.register_tokens"].reshape(1, -1, c.hidden_size)  # (1, R, D)
        parts.append(np.broadcast_to(regs, (b, c.num_register_tokens, c.hidden_size)))
    return np.concatenate([*parts, body], axis=1)  # (B, T, D)


def _block(w: _Float64, c: Dinov2Config, p: str, h: np.ndarray) -> np.ndarray:
    """Pre-norm block: h + LayerScale(attention(norm1(h))), then + LayerScale(MLP(norm2(h)))."""
    eps = c.layer_norm_eps
    a = _attention(w, c, p, _layer_norm(h, w[p + "norm1.weight"], w[p + "norm1.bias"], eps))
    h = h + w[p + "layer_scale1.lambda1"] * a
    m = _mlp(w, c, p, _layer_norm(h, w[p + "norm2.weight"], w[p + "norm2.bias"], eps))
    return h + w[p + "layer_scale2.lambda1"] * m


def _attention(w: _Float64, c: Dinov2Config, p: str, x: np.ndarray) -> np.ndarray:
    b, t, _ = x.shape
    heads, d = c.num_attention_heads, c.head_dim

    def project(name: str) -> np.ndarray:  # (B, T, D) -> (B, h, T, d)
        y = _linear(w, p + "attention.attention." + name, x)
        return y.reshape(b, t, heads, d).transpose(0, 2, 1, 3)

    q, k, v = project("query"), project("key"), project("value")
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)  # (B, h, T, T)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, heads * d)  # (B, T, D)
    return _linear(w, p + "attention.output.dense", ctx)


def _mlp(w: _Float64, c: Dinov2Config, p: str, x: np.ndarray) -> np.ndarray:
    if c.use_swiglu_ffn:
        gate, up = np.split(_linear(w, p + "mlp.weights_in", x), 2, axis=-1)  # (B, T, F) each
        return _linear(w, p + "mlp.weights_out", gate / (1 + np.exp(-gate)) * up)
    hidden = _linear(w, p + "mlp.fc1", x)  # (B, T, F)
    return _linear(w, p + "mlp.fc2", hidden * 0.5 * (1 + _erf(hidden / math.sqrt(2))))


def _linear(w: _Float64, name: str, x: np.ndarray) -> np.ndarray:
    """torch's Linear: x @ weight.T + bias, weight (out, in)."""
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def _layer_norm(x: np.ndarray, scale: np.ndarray, shift: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # biased, as torch
    return (x - mean) / np.sqrt(var + eps) * scale + shift
