"""DINOv2 forward pass in NumPy, numerically following transformers' Dinov2Model and
Dinov2WithRegistersModel (erf GELU, LayerNorm, LayerScale, float32 softmax).

Patch embedding, then pre-norm blocks (multi-head self-attention and an MLP or SwiGLU, each with
LayerScale, on a residual stream), then the final LayerNorm. The weights are folded at load
(folding.py) and the work shared between threads by the schedule (schedule.py); reference.py is the
same forward pass, unfolded, in float64, that the tests hold this one to.

Shapes: B images, C channels, H x W pixels, p patch size, N = (H // p) * (W // p) patches,
R register tokens, T = 1 + R + N tokens (Tq: the query tokens kept, T or 1 for the CLS alone),
D hidden width, g heads in a group, d = D / heads head width.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import numpy as np

from ..errors import WeightsError
from .config import (
    OPTIONAL_KEYS,
    Dinov2Config,
    check_state_dict,
    config_from_state_dict,
)
from .folding import FoldedLayer, fold_weights
from .kernels import NumpyKernels, select_kernels
from .keys import to_released
from .ops import layer_norm, silu_mul_, softmax_numerator_
from .posembed import PositionTables, interpolation_options
from .schedule import Schedule, Steps, Term
from .weights import read_weights


def checked_weights(
    state_dict: Mapping[str, np.ndarray], config: Dinov2Config | None = None
) -> tuple[dict[str, np.ndarray], Dinov2Config]:
    """Any key style -> the released names, checked against the architecture (read from the weights
    when `config` is None), without the optional keys the forward pass does not use."""
    weights = to_released(state_dict)
    if config is None:
        config = config_from_state_dict(weights, getattr(state_dict, "metadata", None))
    check_state_dict(weights, config)
    return {k: v for k, v in weights.items() if k not in OPTIONAL_KEYS}, config


def fingerprint(weights: Mapping[str, np.ndarray], config: Dinov2Config) -> str:
    """sha256 of the weights as float32 (released names, sorted: independent of file format and key
    style), the head count, the LayerNorm eps, and the interpolation options when not the default."""
    h = hashlib.sha256()
    h.update(
        f"heads={config.num_attention_heads};eps={config.layer_norm_eps!r}".encode()
    )
    for name in sorted(weights):
        arr = np.ascontiguousarray(weights[name], dtype=np.float32)
        h.update(f"{name}:{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    tag = f"sha256:{h.hexdigest()}"
    if config.interpolate_offset or config.interpolate_antialias is not None:
        tag += f";offset={config.interpolate_offset};antialias={config.antialias}"
    return tag


def check_input(x: np.ndarray, config: Dinov2Config) -> np.ndarray:
    """A (B, C, H, W) batch as float32, refused with a clear message when it cannot be encoded."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != config.num_channels:
        raise ValueError(
            f"expected a (B, {config.num_channels}, H, W) array, got shape {x.shape}"
        )
    if x.shape[2] < config.patch_size or x.shape[3] < config.patch_size:
        raise ValueError(
            f"image {x.shape[2]}x{x.shape[3]} is smaller than one {config.patch_size}x{config.patch_size} patch"
        )
    return x


class Dinov2:
    """`model(x)` -> (B, D) CLS embedding after the final LayerNorm (transformers' pooler_output).

    The weights are folded at load (folding.py); the threads' shares of the work are the
    schedule's (schedule.py): the methods here are the architecture's arithmetic."""

    def __init__(
        self,
        state_dict: Mapping[str, np.ndarray],
        config: Dinov2Config | None = None,
        *,
        threads: int | None = None,
        backend: str | None = None,
    ):
        weights, config = checked_weights(state_dict, config)
        self.config = config
        self.fingerprint = fingerprint(weights, config)
        self._kernels = select_kernels(backend)
        self._schedule = Schedule(threads, config.num_attention_heads, self._kernels)
        self._weights = fold_weights(weights, config, self._schedule.head_groups)
        self._positions = PositionTables(self._weights.pos_patch, config)

    @property
    def threads(self) -> int:
        return self._schedule.threads

    @property
    def backend(self) -> str:
        """Who runs the heavy kernels: "mkl" or "numpy" (see kernels.py)."""
        return self._kernels.name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, C, H, W) float32 -> (B, D) CLS after the final LayerNorm."""
        # only the CLS row of the last block reaches the output
        cls = self._encode(x, cls_only=True)  # (B, 1, D)
        return self._final_norm(cls.reshape(-1, self.config.hidden_size))

    def forward_features(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """cls_token (B, D), register_tokens (B, R, D), patch_tokens (B, N, D): all after the final LayerNorm."""
        h = self._encode(x, cls_only=False)
        b, t, d = h.shape
        normed = self._final_norm(h.reshape(b * t, d)).reshape(b, t, d)
        r = self.config.num_register_tokens
        return {
            "cls_token": normed[:, 0],
            "register_tokens": normed[:, 1 : 1 + r],
            "patch_tokens": normed[:, 1 + r :],
        }

    def _final_norm(self, x: np.ndarray) -> np.ndarray:
        return layer_norm(x, self._weights.ln_w, self._weights.ln_b, self.config.layer_norm_eps)

    def _encode(self, x: np.ndarray, cls_only: bool) -> np.ndarray:
        """(B, C, H, W) -> (B, T, D) tokens after the last block (T = 1 when cls_only)."""
        x = check_input(x, self.config)
        return self._schedule.encode(x, lambda images, steps: self._encode_with(images, cls_only, steps))

    def _encode_with(self, x: np.ndarray, cls_only: bool, steps: Steps) -> np.ndarray:
        h = self._embed(x)
        layers = self._weights.layers
        for layer in layers[:-1]:
            h = self._block(h, layer, steps)
        return self._block(h, layers[-1], steps, cls_only=cls_only)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        """(B, C, H, W) -> (B, 1 + R + N, D) tokens: [CLS, registers, patches] with positions added."""
        c, fw = self.config, self._weights
        b, ch, height, width = x.shape
        p = c.patch_size
        gh, gw = height // p, width // p
        # the stride-p convolution as one matmul over flattened patches (remainder pixels dropped, as torch)
        patches = (
            x[:, :, : gh * p, : gw * p]
            .reshape(b, ch, gh, p, gw, p)
            .transpose(0, 2, 4, 1, 3, 5)
        )
        patches = patches.reshape(b * gh * gw, ch * p * p)  # (B*N, C*p*p)
        r = c.num_register_tokens
        tokens = np.empty((b, 1 + r + gh * gw, c.hidden_size), np.float32)
        body = (patches @ fw.w_patch).reshape(b, gh * gw, c.hidden_size)  # (B, N, D)
        body += fw.b_patch
        np.add(body, self._positions.get(gh, gw, height, width), out=tokens[:, 1 + r :])
        tokens[:, 0] = fw.cls
        tokens[:, 1 : 1 + r] = fw.registers
        return tokens

    def _block(
        self, h: np.ndarray, layer: FoldedLayer, steps: Steps, cls_only: bool = False
    ) -> np.ndarray:
        """Pre-norm block on (B, T, D) tokens: h + LayerScale(attention(norm1(h))), then
        + LayerScale(MLP(norm2(h))); the norms' affine parts and LayerScale are in the weights.
        Each sum is over shares (groups of heads, blocks of hidden units) that `steps` runs side
        by side. cls_only keeps just the CLS row's output (B, 1, D)."""
        c, kernels = self.config, self._kernels
        b, t, d = h.shape
        tq = 1 if cls_only else t
        eps = c.layer_norm_eps
        # the residual stream (B*Tq, D), updated in place
        resid = np.ascontiguousarray(h[:, 0]) if cls_only else h.reshape(b * t, d)
        # h += LayerScale1 * attention(norm1(h)): a sum over groups of heads
        n1 = steps.normalized(h.reshape(b * t, d), eps).reshape(b, t, d)  # (B, T, D)
        steps.add_terms(
            resid,
            self._weights.head_groups,
            lambda heads: attention(n1, layer, heads, c, kernels, tq),
            layer.b_o,
        )
        # h += LayerScale2 * mlp(norm2(h)): a sum over blocks of hidden units
        n2 = steps.normalized(resid, eps)  # (B*Tq, D)
        steps.add_terms(
            resid,
            steps.hidden_shares(c.intermediate_size),
            lambda units: mlp(n2, layer, units, c, kernels),
            layer.b_out,
        )
        return resid.reshape(b, tq, d)


def attention(
    x: np.ndarray, layer: FoldedLayer, heads: slice, c: Dinov2Config, kernels: NumpyKernels, tq: int
) -> Term:
    """Self-attention of the heads `heads` (one group, as laid out in w_qkv) on normalized tokens
    x (B, T, D), for the first tq query tokens: the group's term (ctx, w_o rows) of the output
    projection, ctx (B*Tq, g*d)."""
    b, t, _ = x.shape
    g, hd = heads.stop - heads.start, c.head_dim
    cols = slice(3 * heads.start * hd, 3 * heads.stop * hd)  # the group's Q | K | V columns
    qkv = np.empty((b * t, 3 * g * hd), np.float32)
    kernels.affine(x.reshape(b * t, -1), layer.w_qkv[:, cols], layer.b_qkv[cols], qkv)
    qkv = qkv.reshape(b, t, 3, g, hd)
    ctx = np.empty((b, tq, g, hd), np.float32)
    for i in range(b):
        # queries (g, Tq, hd), already scaled; keys (g, hd, T); values (g, T, hd)
        q = qkv[i, :tq, 0].transpose(1, 0, 2)
        k = qkv[i, :, 1].transpose(1, 2, 0)
        v = qkv[i, :, 2].transpose(1, 0, 2)
        scores = np.matmul(q, k)  # (g, Tq, T)
        sums = softmax_numerator_(scores, kernels.exp_)
        out = ctx[i].transpose(1, 0, 2)  # (g, Tq, hd) view
        np.matmul(scores, v, out=out)
        out /= sums
    return ctx.reshape(b * tq, g * hd), layer.w_o[heads.start * hd : heads.stop * hd]


def mlp(x: np.ndarray, layer: FoldedLayer, units: slice, c: Dinov2Config, kernels: NumpyKernels) -> Term:
    """The MLP's hidden units `units` on normalized tokens x (rows, D): their term (hidden,
    w_out rows) of the output projection, hidden (rows, u): GELU(fc1), or SwiGLU's silu(gate) * up."""
    u = units.stop - units.start
    if c.use_swiglu_ffn:  # weights are gate | up
        f = c.intermediate_size
        buf = np.empty((len(x), 2 * u), np.float32)  # (rows, gate u | up u)
        for half, cols in enumerate((units, slice(units.start + f, units.stop + f))):
            kernels.affine(x, layer.w_in[:, cols], layer.b_in[cols], buf[:, half * u : (half + 1) * u])
        silu_mul_(buf[:, :u], buf[:, u:])
        hidden = buf[:, :u]
    else:
        hidden = np.empty((len(x), u), np.float32)
        kernels.affine(x, layer.w_in[:, units], layer.b_in[units], hidden)
        kernels.gelu_(hidden)
    return hidden, layer.w_out[units]


def load_model(
    path: str | os.PathLike,
    *,
    interpolation: str = "transformers",
    threads: int | None = None,
    backend: str | None = None,
    **config_overrides,
) -> Dinov2:
    """Load .npz / .safetensors weights of any supported key style.

    interpolation: "transformers" (default) or "facebookresearch" (the original hub models'
    position-embedding resize). threads: cores to use (default: all this process may use).
    backend: numeric kernels, "auto" (MKL when installed), "numpy" or "mkl" (kernels.py).
    config_overrides: Dinov2Config fields, e.g. num_attention_heads (for a file that does not say it).
    `path` may also be a transformers save_pretrained folder.
    """
    weights, config = read_model_weights(path, interpolation, **config_overrides)
    return Dinov2(weights, config, threads=threads, backend=backend)


def read_model_weights(
    path: str | os.PathLike, interpolation: str = "transformers", **config_overrides
) -> tuple[dict[str, np.ndarray], Dinov2Config]:
    """The checked weights (released names) and architecture of a file, as `load_model` reads
    them; for every embedder built from a weights file."""
    raw = read_weights(path)
    try:
        heads = config_overrides.pop("num_attention_heads", None)  # None: the file says
        base = config_from_state_dict(
            to_released(raw), raw.metadata, num_attention_heads=heads
        )
        options = interpolation_options(interpolation, base.num_register_tokens)
        options.update(config_overrides)
        try:
            config = base.replace(**options)
        except TypeError as exc:
            raise WeightsError(f"unknown model option: {exc}") from None
        return checked_weights(raw, config)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
