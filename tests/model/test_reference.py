"""The plain float64 forward pass (reference.py) against the fast model, and against transformers'
stored outputs: the fast model's numerical reference in every test run, torch or not."""

from __future__ import annotations

import numpy as np
import pytest

from vistamatch.model import Dinov2, Dinov2Config, random_state_dict
from vistamatch.model.dinov2 import read_model_weights
from vistamatch.model.reference import reference_cls, reference_tokens

from .backends import BACKENDS
from .parity_cases import FAMILIES, FIXTURES, GOLDENS, golden_key, parity_input

# float32 against float64 on small random models: ~1e-6 is typical
MAX_ABS = 1e-4

TINY = {
    "mlp": {},
    "swiglu": {"use_swiglu_ffn": True},
    "registers-mlp": {"num_register_tokens": 4},
    "registers-swiglu": {"num_register_tokens": 4, "use_swiglu_ffn": True},
}
# 56x56: the position table as it is; 42x70: resized to a non-square grid
SHAPES = [(3, 56, 56), (2, 42, 70)]


def _tiny(family: str) -> tuple[dict, Dinov2Config]:
    config = Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        image_size=56, **TINY[family],
    )  # fmt: skip
    return random_state_dict(config, seed=len(family)), config


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", list(TINY))
def test_fast_model_matches_the_reference(family, backend, threads):
    weights, config = _tiny(family)
    model = Dinov2(weights, config, threads=threads, backend=backend)
    for shape in SHAPES:
        x = parity_input(*shape, seed=1)
        ref = reference_tokens(weights, config, x)
        assert np.abs(model(x) - ref[:, 0]).max() < MAX_ABS
        feats = model.forward_features(x)
        ours = np.concatenate(
            [feats["cls_token"][:, None], feats["register_tokens"], feats["patch_tokens"]], axis=1
        )
        assert np.abs(ours - ref).max() < MAX_ABS


def test_the_comparison_can_fail():
    """A wrong LayerScale in the fast model is seen (the tolerance is not too loose)."""
    weights, config = _tiny("mlp")
    changed = dict(weights)
    changed["encoder.layer.1.layer_scale2.lambda1"] = weights["encoder.layer.1.layer_scale2.lambda1"] * 1.01
    x = parity_input(*SHAPES[0], seed=1)
    diff = np.abs(Dinov2(changed, config, threads=1)(x) - reference_cls(weights, config, x)).max()
    assert diff > 10 * MAX_ABS


@pytest.mark.parametrize("family", list(FAMILIES))
def test_reference_matches_transformers_goldens(family):
    with np.load(GOLDENS) as npz:
        goldens = dict(npz)
    weights, config = read_model_weights(FIXTURES / FAMILIES[family][1])
    seed = list(FAMILIES).index(family)
    for shape in [(2, 224, 224), (3, 98, 140)]:
        ref = reference_cls(weights, config, parity_input(*shape, seed=seed))
        assert np.abs(ref - goldens[golden_key(family, shape)]).max() < MAX_ABS
