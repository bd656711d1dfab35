"""DINOv2 forward pass in NumPy, numerically following transformers' Dinov2Model and
Dinov2WithRegistersModel (erf GELU, LayerNorm, LayerScale, float32 softmax)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import WeightsError
from .kernels import select_kernels
from .config import (
    OPTIONAL_KEYS,
    Dinov2Config,
    check_state_dict,
    config_from_state_dict,
)
from .keys import to_released
from .ops import layer_norm, normalize, silu_mul_, softmax_numerator_
from .parallel import Runner, column_chunks, row_chunks
from .posembed import PositionTables, interpolation_options
from .weights import read_weights


@dataclass
class _Layer:
    """One encoder block, laid out for `x @ w`. Folded in: each LayerNorm's scale and shift into the
    projection after it, the attention scale into the query columns, LayerScale into the output
    projections."""

    # (D, 3D): per head group, that group's query | key | value columns
    w_qkv: np.ndarray
    b_qkv: np.ndarray  # (3D,)
    w_o: np.ndarray  # (D, D)
    b_o: np.ndarray
    w_in: np.ndarray  # (D, F) MLP fc1, or (D, 2F) SwiGLU gate | up
    b_in: np.ndarray
    w_out: np.ndarray  # (F, D)
    b_out: np.ndarray


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


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


class Dinov2:
    """`model(x)` -> (B, D) CLS embedding after the final LayerNorm (transformers' pooler_output)."""

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
        self._runner = Runner(threads)
        self._serial = Runner(1)  # for a thread that encodes images on its own
        self._kernels = select_kernels(backend)
        # head groups: the most threads that divide the heads evenly
        self._head_groups = max(
            g
            for g in range(1, self._runner.threads + 1)
            if config.num_attention_heads % g == 0
        )
        self._prepare(weights)
        self._positions = PositionTables(self._pos_patch, config)

    @property
    def threads(self) -> int:
        return self._runner.threads

    @property
    def backend(self) -> str:
        """Who runs the heavy kernels: "mkl" or "numpy" (see kernels.py)."""
        return self._kernels.name

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
        self._registers = (
            _f32(regs.reshape(-1, d))
            if regs is not None
            else np.zeros((0, d), np.float32)
        )
        self._ln_w = _f32(sd["layernorm.weight"])
        self._ln_b = _f32(sd["layernorm.bias"])
        attn_scale = np.full(d, c.head_dim**-0.5)
        qkv_scale = np.concatenate([attn_scale, np.ones(2 * d)])
        mlp_in, mlp_out = (
            ("mlp.weights_in", "mlp.weights_out")
            if c.use_swiglu_ffn
            else ("mlp.fc1", "mlp.fc2")
        )
        self._layers = []
        for i in range(c.num_hidden_layers):
            p = f"encoder.layer.{i}."
            att = p + "attention.attention."
            ln1 = (sd[p + "norm1.weight"], sd[p + "norm1.bias"])
            ln2 = (sd[p + "norm2.weight"], sd[p + "norm2.bias"])
            w_qkv, b_qkv = self._group_columns(
                *_linear(
                    np.concatenate(
                        [sd[att + n + ".weight"] for n in ("query", "key", "value")]
                    ),
                    np.concatenate(
                        [sd[att + n + ".bias"] for n in ("query", "key", "value")]
                    ),
                    ln=ln1,
                    out_scale=qkv_scale,
                )
            )
            ls1 = sd[p + "layer_scale1.lambda1"].astype(np.float64)
            ls2 = sd[p + "layer_scale2.lambda1"].astype(np.float64)
            w_o, b_o = _linear(
                sd[p + "attention.output.dense.weight"],
                sd[p + "attention.output.dense.bias"],
                out_scale=ls1,
            )
            w_in, b_in = _linear(
                sd[p + mlp_in + ".weight"], sd[p + mlp_in + ".bias"], ln=ln2
            )
            w_out, b_out = _linear(
                sd[p + mlp_out + ".weight"], sd[p + mlp_out + ".bias"], out_scale=ls2
            )
            self._layers.append(
                _Layer(w_qkv, b_qkv, w_o, b_o, w_in, b_in, w_out, b_out)
            )

    def _group_columns(
        self, w: np.ndarray, bias: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reorder Q | K | V columns into one block per head group (queries, keys, values of the
        group's heads), so that a thread computes exactly the columns its attention reads."""
        d, hd = self.config.hidden_size, self.config.head_dim
        heads_per_group = self.config.num_attention_heads // self._head_groups
        order = np.concatenate(
            [
                np.arange(
                    part * d + first * hd, part * d + (first + heads_per_group) * hd
                )
                for first in range(0, self.config.num_attention_heads, heads_per_group)
                for part in range(3)
            ]
        )
        return _f32(w[:, order]), _f32(bias[order])

    # -- forward --------------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 -> (B, D) CLS after the final LayerNorm."""
        # only the CLS row of the last block reaches the output
        cls = self._encode(x, cls_only=True)
        return layer_norm(
            cls.reshape(-1, self.config.hidden_size),
            self._ln_w,
            self._ln_b,
            self.config.layer_norm_eps,
        )

    def forward_features(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """cls_token (B, D), register_tokens (B, R, D), patch_tokens (B, N, D): all after the final LayerNorm."""
        h = self._encode(x, cls_only=False)
        b, t, d = h.shape
        normed = layer_norm(
            h.reshape(b * t, d), self._ln_w, self._ln_b, self.config.layer_norm_eps
        ).reshape(b, t, d)
        r = self.config.num_register_tokens
        return {
            "cls_token": normed[:, 0],
            "register_tokens": normed[:, 1 : 1 + r],
            "patch_tokens": normed[:, 1 + r :],
        }

    def _encode(self, x: np.ndarray, cls_only: bool) -> np.ndarray:
        """(B, C, H, W) -> (B, T, D) tokens after the last block (T = 1 when cls_only).

        With at least one image per thread, each thread encodes its own images from start to end
        (no hand-offs between steps, every step parallel); images left over are shared step by step.
        """
        x = check_input(x, self.config)
        threads = self._runner.threads
        whole = len(x) - len(x) % threads if threads > 1 else 0
        pieces: list[np.ndarray] = []
        with self._runner.session():
            if whole:
                shares = np.array_split(x[:whole], threads)
                encoded: dict[int, np.ndarray] = {}

                def encode_share(j: int) -> None:
                    encoded[j] = self._encode_with(shares[j], cls_only, self._serial)

                self._runner.run(encode_share, range(threads))
                pieces += [encoded[j] for j in range(threads)]
            if whole < len(x):
                pieces.append(self._encode_with(x[whole:], cls_only, self._runner))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def _encode_with(self, x: np.ndarray, cls_only: bool, runner: Runner) -> np.ndarray:
        h = self._embed(x)
        for layer in self._layers[:-1]:
            h = self._block(h, layer, runner)
        return self._block(h, self._layers[-1], runner, cls_only=cls_only)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        """(B, C, H, W) -> (B, 1 + R + N, D) tokens: [CLS, registers, patches] with positions added."""
        c = self.config
        b, ch, height, width = x.shape
        p = c.patch_size
        gh, gw = height // p, width // p
        # the stride-p convolution as one matmul over flattened patches (remainder pixels dropped, as torch)
        patches = (
            x[:, :, : gh * p, : gw * p]
            .reshape(b, ch, gh, p, gw, p)
            .transpose(0, 2, 4, 1, 3, 5)
        )
        patches = patches.reshape(b * gh * gw, ch * p * p)
        r = c.num_register_tokens
        tokens = np.empty((b, 1 + r + gh * gw, c.hidden_size), np.float32)
        body = (patches @ self._w_patch).reshape(b, gh * gw, c.hidden_size)
        body += self._b_patch
        np.add(body, self._positions.get(gh, gw, height, width), out=tokens[:, 1 + r :])
        tokens[:, 0] = self._cls
        tokens[:, 1 : 1 + r] = self._registers
        return tokens

    def _block(
        self, h: np.ndarray, layer: _Layer, runner: Runner, cls_only: bool = False
    ) -> np.ndarray:
        """One pre-norm encoder block on (B, T, D) tokens; cls_only keeps just the CLS row's output.

        Two steps per thread, each ending in a residual update: attention (one group of heads:
        its Q/K/V columns, attention, and its rows of the output projection) and the MLP (one share
        of the hidden units: its fc1 columns, activation, and its rows of fc2). Each thread thus
        packs only its share of the weights. One share adds straight into the residual stream, the
        others into buffers of their own, summed after the step (on one thread, all add straight)."""
        c = self.config
        b, t, d = h.shape
        heads, hd = c.num_attention_heads, c.head_dim
        kernels, threads = self._kernels, runner.threads
        x = h.reshape(b * t, d)
        tq = 1 if cls_only else t
        normed = self._normalized(x, runner)
        # the residual stream (B*Tq, D), updated in place
        resid = np.ascontiguousarray(h[:, 0]) if cls_only else x
        partials: dict[int, np.ndarray] = {}

        def add_to_residual(share: int, a: np.ndarray, w: np.ndarray) -> None:
            if threads == 1 or share == 0:
                kernels.gemm(a, w, resid, accumulate=True)
            else:
                partials[share] = np.empty_like(resid)
                kernels.gemm(a, w, partials[share])

        def gather(bias: np.ndarray) -> None:
            for partial in [*partials.values(), bias]:
                np.add(resid, partial, out=resid)
            partials.clear()

        groups = self._head_groups
        width = 3 * d // groups  # Q/K/V columns per group
        per_group = heads // groups
        qkv = np.empty((b * t, 3 * d), np.float32)

        def attend(g: int) -> None:
            cols = slice(g * width, (g + 1) * width)
            out = qkv[:, cols]
            kernels.affine(normed, layer.w_qkv[:, cols], layer.b_qkv[cols], out)
            mine = out.reshape(b, t, 3, per_group, hd)
            ctx = np.empty((b, tq, per_group, hd), np.float32)
            for i in range(b):
                # queries (g, Tq, hd), already scaled; keys (g, hd, T); values (g, T, hd)
                q = mine[i, :tq, 0].transpose(1, 0, 2)
                k = mine[i, :, 1].transpose(1, 2, 0)
                v = mine[i, :, 2].transpose(1, 0, 2)
                scores = np.matmul(q, k)  # (g, Tq, T)
                sums = softmax_numerator_(scores, kernels.exp_)
                att = ctx[i].transpose(1, 0, 2)  # (g, Tq, hd) view
                np.matmul(scores, v, out=att)
                att /= sums
            rows = slice(g * per_group * hd, (g + 1) * per_group * hd)
            add_to_residual(g, ctx.reshape(b * tq, per_group * hd), layer.w_o[rows])

        runner.run(attend, range(groups))
        gather(layer.b_o)

        normed = self._normalized(resid, runner)
        f = c.intermediate_size
        shares = column_chunks(f, threads)

        def mlp(j: int) -> None:
            cs = shares[j]
            w = cs.stop - cs.start
            if c.use_swiglu_ffn:  # weights are gate | up
                buf = np.empty((len(normed), 2 * w), np.float32)
                for half, cols in enumerate((cs, slice(cs.start + f, cs.stop + f))):
                    part = buf[:, half * w : (half + 1) * w]
                    kernels.affine(normed, layer.w_in[:, cols], layer.b_in[cols], part)
                silu_mul_(buf[:, :w], buf[:, w:])
                hidden = buf[:, :w]
            else:
                hidden = np.empty((len(normed), w), np.float32)
                kernels.affine(normed, layer.w_in[:, cs], layer.b_in[cs], hidden)
                kernels.gelu_(hidden)
            add_to_residual(j, hidden, layer.w_out[cs])

        runner.run(mlp, range(len(shares)))
        gather(layer.b_out)
        return resid.reshape(b, tq, d)

    def _normalized(self, x: np.ndarray, runner: Runner) -> np.ndarray:
        """LayerNorm without its affine part (folded into the next weights), on row chunks."""
        out = np.empty_like(x)
        eps = self.config.layer_norm_eps

        def norm(rows: slice) -> None:
            normalize(x[rows], eps, out=out[rows])

        runner.run(norm, row_chunks(len(x), runner.threads))
        return out


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
