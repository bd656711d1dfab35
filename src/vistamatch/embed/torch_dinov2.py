"""DINOv2 as a torch nn.Module whose state_dict keys are the released names (those our weights files
hold), so the same file loads into it with strict checking. Imported only by torch_embedder.py.

The position table is resized by the caller (model/posembed.py, as for the NumPy model) and passed
in, so both embedders resize it identically. Attention is torch's scaled_dot_product_attention
(flash / memory-efficient kernels on CUDA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model import Dinov2Config


class _PatchEmbeddings(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        self.projection = nn.Conv2d(c.num_channels, c.hidden_size, c.patch_size, stride=c.patch_size)


class _Embeddings(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        d = c.hidden_size
        self.cls_token = nn.Parameter(torch.empty(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.empty(1, c.grid_size**2 + 1, d))
        if c.num_register_tokens:
            self.register_tokens = nn.Parameter(torch.empty(1, c.num_register_tokens, d))
        self.patch_embeddings = _PatchEmbeddings(c)

    def forward(self, x: torch.Tensor, patch_positions: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W), (N, D) -> (B, T, D) tokens: [CLS, registers, patches]."""
        body = self.patch_embeddings.projection(x).flatten(2).transpose(1, 2)  # (B, N, D)
        body = body + patch_positions.to(body.dtype)
        cls = self.cls_token + self.position_embeddings[:, :1]
        parts = [cls.expand(len(x), -1, -1).to(body.dtype)]
        if hasattr(self, "register_tokens"):
            parts.append(self.register_tokens.expand(len(x), -1, -1).to(body.dtype))
        return torch.cat([*parts, body], dim=1)


class _SelfAttention(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        self.heads = c.num_attention_heads
        self.query, self.key, self.value = (nn.Linear(c.hidden_size, c.hidden_size) for _ in range(3))


class _Attention(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        self.attention = _SelfAttention(c)
        self.output = nn.Module()
        self.output.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        a = self.attention

        def heads(proj: nn.Linear) -> torch.Tensor:  # (B, T, D) -> (B, h, T, d/h)
            return proj(x).view(b, t, a.heads, d // a.heads).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(heads(a.query), heads(a.key), heads(a.value))
        return self.output.dense(ctx.transpose(1, 2).reshape(b, t, d))


class _Mlp(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        self.fc1 = nn.Linear(c.hidden_size, c.intermediate_size)
        self.fc2 = nn.Linear(c.intermediate_size, c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # exact (erf) GELU


class _SwiGlu(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        self.weights_in = nn.Linear(c.hidden_size, 2 * c.intermediate_size)
        self.weights_out = nn.Linear(c.intermediate_size, c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.weights_in(x).chunk(2, dim=-1)
        return self.weights_out(F.silu(gate) * up)


class _LayerScale(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.lambda1 = nn.Parameter(torch.empty(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.lambda1


class _Block(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        d, eps = c.hidden_size, c.layer_norm_eps
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.attention = _Attention(c)
        self.layer_scale1, self.layer_scale2 = _LayerScale(d), _LayerScale(d)
        self.mlp = _SwiGlu(c) if c.use_swiglu_ffn else _Mlp(c)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + self.layer_scale1(self.attention(self.norm1(h)))
        return h + self.layer_scale2(self.mlp(self.norm2(h)))


class _Encoder(nn.Module):
    def __init__(self, c: Dinov2Config):
        super().__init__()
        self.layer = nn.ModuleList(_Block(c) for _ in range(c.num_hidden_layers))


class TorchDinov2(nn.Module):
    """`module(x, patch_positions)` -> (B, D) CLS after the final LayerNorm (pooler_output)."""

    def __init__(self, config: Dinov2Config):
        super().__init__()
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, patch_positions: torch.Tensor) -> torch.Tensor:
        h = self.embeddings(x, patch_positions)
        for block in self.encoder.layer:
            h = block(h)
        return self.layernorm(h[:, 0])
