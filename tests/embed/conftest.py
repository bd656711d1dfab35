"""Tiny random weights of each family, for the embedder tests."""

from __future__ import annotations

import pytest

from vistamatch.model import Dinov2Config, random_state_dict, save_weights

FAMILIES = {
    "mlp": {},
    "swiglu": {"use_swiglu_ffn": True},
    "registers": {"num_register_tokens": 4},
}


@pytest.fixture(scope="session", params=list(FAMILIES))
def family_weights(request, tmp_path_factory):
    """A weights file of one family (MLP, SwiGLU, registers); the table is 8x8 patches."""
    config = Dinov2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
        image_size=112, **FAMILIES[request.param],
    )  # fmt: skip
    path = tmp_path_factory.mktemp("weights") / f"{request.param}.npz"
    save_weights(random_state_dict(config, seed=3), path)
    return path
