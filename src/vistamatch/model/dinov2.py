"""DINOv2 forward pass in NumPy, numerically following transformers' Dinov2Model and
Dinov2WithRegistersModel (erf GELU, LayerNorm, LayerScale, float32 softmax)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping

import numpy as np

from ..errors import WeightsError
from .config import OPTIONAL_KEYS, Dinov2Config, check_state_dict, config_from_state_dict
from .keys import to_released
from .ops import RowPool, default_threads, gelu_, layer_norm, silu_mul_, softmax_
from .posembed import interpolation_options, patch_position_table
from .weights import read_weights

_POS_CACHE_SIZE = 16


@dataclass
class _Layer:
    """One encoder block, laid out for `x @ w`. LayerScale is folded into the output projections
    and the attention scale into the query rows."""

    ln1_w: np.ndarray
    ln1_b: np.ndarray
    w_qkv: np.ndarray  # (D, 3D): query | key | value
    b_qkv: np.ndarray  # (3D,)
    w_o: np.ndarray  # (D, D)
    b_o: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray
    w_in: np.ndarray  # (D, F) MLP fc1, or (D, 2F) SwiGLU gate | up
    b_in: np.ndarray
    w_out: np.ndarray  # (F, D)
    b_out: np.ndarray


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


class Dinov2:
    """`model(x)` -> (B, D) CLS embedding after the final LayerNorm (transformers' pooler_output)."""

    def __init__(
        self, state_dict: Mapping[str, np.ndarray], config: Dinov2Config | None = None, *, threads: int | None = None
    ):
        weights = to_released(state_dict)
        if config is None:
            config = config_from_state_dict(weights, getattr(state_dict, "metadata", None))
        check_state_dict(weights, config)
        self.config = config
        self._weights = {k: v for k, v in weights.items() if k not in OPTIONAL_KEYS}
        self._rows = RowPool(threads or default_threads())
        self._prepare(self._weights)
        self._pos_cache: dict[tuple[int, int, bool], np.ndarray] = {}

    # -- weights --------------------------------------------------------------------------
    def _prepare(self, sd: Mapping[str, np.ndarray]) -> None:
        c = self.config
        d = c.hidden_size
        proj = sd["embeddings.patch_embeddings.projection.weight"]
        self._w_patch = _f32(proj.reshape(d, -1).T)  # (C*p*p, D)
        self._b_patch = _f32(sd["embeddings.patch_embeddings.projection.bias"])
        pos = _f32(sd["embeddings.position_embeddings"]).reshape(-1, d)
        self._cls = _f32(sd["embeddings.cls_token"]).reshape(d) + pos[0]
        self._pos_patch = _f32(pos[1:])
        regs = sd.get("embeddings.register_tokens")
        self._registers = _f32(regs.reshape(-1, d)) if regs is not None else np.zeros((0, d), np.float32)
        self._ln_w = _f32(sd["layernorm.weight"])
        self._ln_b = _f32(sd["layernorm.bias"])
        scale = np.float32(c.head_dim**-0.5)
        self._layers = []
        for i in range(c.num_hidden_layers):
            p = f"encoder.layer.{i}."
            att = p + "attention.attention."
            w_qkv = np.concatenate([sd[att + "query.weight"] * scale, sd[att + "key.weight"], sd[att + "value.weight"]])
            b_qkv = np.concatenate([sd[att + "query.bias"] * scale, sd[att + "key.bias"], sd[att + "value.bias"]])
            ls1 = sd[p + "layer_scale1.lambda1"].astype(np.float32)
            ls2 = sd[p + "layer_scale2.lambda1"].astype(np.float32)
            mlp_in, mlp_out = ("mlp.weights_in", "mlp.weights_out") if c.use_swiglu_ffn else ("mlp.fc1", "mlp.fc2")
            self._layers.append(
                _Layer(
                    ln1_w=_f32(sd[p + "norm1.weight"]),
                    ln1_b=_f32(sd[p + "norm1.bias"]),
                    w_qkv=_f32(w_qkv.T),
                    b_qkv=_f32(b_qkv),
                    w_o=_f32((sd[p + "attention.output.dense.weight"] * ls1[:, None]).T),
                    b_o=_f32(sd[p + "attention.output.dense.bias"] * ls1),
                    ln2_w=_f32(sd[p + "norm2.weight"]),
                    ln2_b=_f32(sd[p + "norm2.bias"]),
                    w_in=_f32(sd[p + mlp_in + ".weight"].T),
                    b_in=_f32(sd[p + mlp_in + ".bias"]),
                    w_out=_f32((sd[p + mlp_out + ".weight"] * ls2[:, None]).T),
                    b_out=_f32(sd[p + mlp_out + ".bias"] * ls2),
                )
            )

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the weights (released names, sorted; independent of file format and key style),
        the head count, the LayerNorm eps and non-default interpolation options."""
        h = hashlib.sha256()
        c = self.config
        h.update(f"heads={c.num_attention_heads};eps={c.layer_norm_eps!r}".encode())
        for name in sorted(self._weights):
            arr = np.ascontiguousarray(self._weights[name], dtype=np.float32)
            h.update(f"{name}:{arr.shape}".encode())
            h.update(memoryview(arr).cast("B"))
        tag = f"sha256:{h.hexdigest()}"
        if c.interpolate_offset or c.interpolate_antialias is not None:
            tag += f";offset={c.interpolate_offset};antialias={c.antialias}"
        return tag

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights with released key names."""
        return dict(self._weights)

    # -- forward --------------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 -> (B, D) CLS after the final LayerNorm."""
        h = self._embed(x)
        for layer in self._layers[:-1]:
            h = self._block(h, layer)
        # only the CLS row of the last block reaches the output
        cls = self._block(h, self._layers[-1], cls_only=True).reshape(-1, self.config.hidden_size)
        out = np.empty_like(cls)
        layer_norm(cls, self._ln_w, self._ln_b, self.config.layer_norm_eps, out)
        return out

    def forward_features(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """cls_token (B, D), register_tokens (B, R, D), patch_tokens (B, N, D): all after the final LayerNorm."""
        h = self._embed(x)
        for layer in self._layers:
            h = self._block(h, layer)
        b, t, d = h.shape
        normed = np.empty_like(h)
        self._rows.run(self._final_norm, h.reshape(b * t, d), normed.reshape(b * t, d))
        r = self.config.num_register_tokens
        return {"cls_token": normed[:, 0], "register_tokens": normed[:, 1 : 1 + r], "patch_tokens": normed[:, 1 + r :]}

    def _final_norm(self, x: np.ndarray, out: np.ndarray) -> None:
        layer_norm(x, self._ln_w, self._ln_b, self.config.layer_norm_eps, out)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        """(B, C, H, W) -> (B, 1 + R + N, D) tokens: [CLS, registers, patches] with positions added."""
        c = self.config
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != c.num_channels:
            raise ValueError(f"expected a (B, {c.num_channels}, H, W) array, got shape {x.shape}")
        b, ch, height, width = x.shape
        p = c.patch_size
        gh, gw = height // p, width // p
        if gh == 0 or gw == 0:
            raise ValueError(f"image {height}x{width} is smaller than one {p}x{p} patch")
        # the stride-p convolution as one matmul over flattened patches (remainder pixels dropped, as torch)
        patches = x[:, :, : gh * p, : gw * p].reshape(b, ch, gh, p, gw, p).transpose(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(b * gh * gw, ch * p * p)
        r = c.num_register_tokens
        tokens = np.empty((b, 1 + r + gh * gw, c.hidden_size), np.float32)
        body = (patches @ self._w_patch).reshape(b, gh * gw, c.hidden_size)
        body += self._b_patch
        np.add(body, self._positions(gh, gw, height, width), out=tokens[:, 1 + r :])
        tokens[:, 0] = self._cls
        tokens[:, 1 : 1 + r] = self._registers
        return tokens

    def _positions(self, gh: int, gw: int, height: int, width: int) -> np.ndarray:
        key = (gh, gw, height == width)
        table = self._pos_cache.get(key)
        if table is None:
            table = patch_position_table(self._pos_patch, self.config, gh, gw, height, width)
            if len(self._pos_cache) >= _POS_CACHE_SIZE:
                self._pos_cache.pop(next(iter(self._pos_cache)))
            self._pos_cache[key] = table
        return table

    def _block(self, h: np.ndarray, layer: _Layer, cls_only: bool = False) -> np.ndarray:
        """One pre-norm encoder block on (B, T, D) tokens; cls_only keeps just the CLS row's output."""
        c = self.config
        b, t, d = h.shape
        heads, hd = c.num_attention_heads, c.head_dim
        eps = c.layer_norm_eps
        rows = self._rows

        normed = np.empty((b * t, d), np.float32)
        rows.run(lambda xb, ob: layer_norm(xb, layer.ln1_w, layer.ln1_b, eps, ob), h.reshape(b * t, d), normed)
        qkv = normed @ layer.w_qkv  # (B*T, 3D)
        rows.run(lambda qb: qb.__iadd__(layer.b_qkv), qkv)
        qkv = qkv.reshape(b, t, 3, heads, hd)
        tq = 1 if cls_only else t
        q = qkv[:, :tq, 0].transpose(0, 2, 1, 3)  # (B, H, Tq, hd), already scaled
        k = qkv[:, :, 1].transpose(0, 2, 3, 1)  # (B, H, hd, T)
        v = qkv[:, :, 2].transpose(0, 2, 1, 3)  # (B, H, T, hd)
        scores = np.matmul(q, k)  # (B, H, Tq, T)
        rows.run(softmax_, scores.reshape(-1, t))
        ctx = np.empty((b, tq, heads, hd), np.float32)
        np.matmul(scores, v, out=ctx.transpose(0, 2, 1, 3))
        attn = ctx.reshape(b * tq, d) @ layer.w_o  # (B*Tq, D), LayerScale folded in

        resid = np.ascontiguousarray(h[:, :tq]).reshape(b * tq, d) if cls_only else h.reshape(b * t, d)
        rows.run(lambda rb, ab: (rb.__iadd__(ab), rb.__iadd__(layer.b_o)), resid, attn)
        normed2 = attn  # reuse the buffer: same shape, no longer needed
        rows.run(lambda xb, ob: layer_norm(xb, layer.ln2_w, layer.ln2_b, eps, ob), resid, normed2)
        hidden = normed2 @ layer.w_in  # (B*Tq, F) or (B*Tq, 2F)
        if c.use_swiglu_ffn:
            f = c.intermediate_size
            rows.run(lambda hb: _swiglu_block(hb, layer.b_in, f), hidden)
            hidden = hidden[:, :f]
        else:
            rows.run(lambda hb: (hb.__iadd__(layer.b_in), gelu_(hb)), hidden)
        out = hidden @ layer.w_out  # (B*Tq, D), LayerScale folded in
        rows.run(lambda rb, ob: (rb.__iadd__(ob), rb.__iadd__(layer.b_out)), resid, out)
        return resid.reshape(b, tq, d)


def _swiglu_block(hb: np.ndarray, bias: np.ndarray, f: int) -> None:
    hb += bias
    silu_mul_(hb[:, :f], hb[:, f:])


def load_model(
    path: str | os.PathLike, *, interpolation: str = "transformers", threads: int | None = None, **config_overrides
) -> Dinov2:
    """Load .npz / .safetensors weights of any supported key style.

    interpolation: "transformers" (default) or "facebookresearch" (the original hub models'
    position-embedding resize). config_overrides: Dinov2Config fields, e.g. num_attention_heads.
    """
    raw = read_weights(path)
    try:
        weights = to_released(raw)
        base = config_from_state_dict(weights, raw.metadata)
        options = interpolation_options(interpolation, base.num_register_tokens)
        options.update(config_overrides)
        try:
            config = base.replace(**options)
        except TypeError as exc:
            raise WeightsError(f"unknown model option: {exc}") from None
        return Dinov2(weights, config, threads=threads)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
