"""The NumPy and PyTorch embedders: the same vectors from the same weights, the interface kept."""

from __future__ import annotations

import numpy as np
import pytest

from vistamatch.embed import (
    Embedder,
    EmbedderMismatchError,
    NumpyEmbedder,
    check_agreement,
    measure_agreement,
)
from vistamatch.model import load_model
from vistamatch.model.dinov2 import read_model_weights
from vistamatch.model.reference import reference_cls

pytest.importorskip("torch", reason="the torch embedder needs torch (pip install 'vistamatch[torch]')")

from vistamatch.embed import TorchEmbedder  # noqa: E402

# 112x112: the table as it is; 70x126 and 84x98: resized (non-square, fewer patches)
SHAPES = [(3, 112, 112), (2, 70, 126), (1, 84, 98)]


def _batch(b: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, (b, 3, h, w)).astype(np.float32)


@pytest.fixture(scope="module")
def embedders(family_weights):
    return NumpyEmbedder.from_weights(family_weights), TorchEmbedder.from_weights(family_weights, device="cpu")


def test_float32_torch_agrees_with_numpy(embedders):
    ours, theirs = embedders
    for shape in SHAPES:
        agreement = check_agreement(ours, theirs, _batch(*shape), min_cosine=0.9999)
        assert agreement.max_abs < 1e-4, agreement


def test_torch_matches_the_float64_reference(family_weights, embedders):
    weights, config = read_model_weights(family_weights)
    x = _batch(*SHAPES[1], seed=4)
    ref = reference_cls(weights, config, x)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert np.abs(embedders[1].embed(x) - ref).max() < 1e-4


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_on_cpu_agrees_to_three_nines(family_weights, embedders, dtype):
    half = TorchEmbedder.from_weights(family_weights, device="cpu", dtype=dtype)
    agreement = measure_agreement(embedders[0], half, _batch(*SHAPES[0]))
    assert agreement.cosine_min >= 0.999, agreement
    assert agreement.max_abs > 1e-5, f"{dtype} gave float32's result: autocast was not on"
    assert half.fingerprint == embedders[0].fingerprint  # the weights' identity, whatever the precision


def test_the_interface(family_weights, embedders):
    fingerprint = load_model(family_weights).fingerprint
    for embedder in embedders:
        assert isinstance(embedder, Embedder)
        assert (embedder.dim, embedder.device, embedder.fingerprint) == (64, "cpu", fingerprint)
        assert embedder.name in embedder.describe() and "hidden 64" in embedder.describe()
        out = embedder.embed(_batch(2, 112, 112))
        assert out.dtype == np.float32 and out.shape == (2, 64)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_bad_input_is_refused_alike(embedders):
    for embedder in embedders:
        with pytest.raises(ValueError, match=r"expected a \(B, 3, H, W\) array"):
            embedder.embed(np.zeros((2, 112, 112), np.float32))
        with pytest.raises(ValueError, match="smaller than one 14x14 patch"):
            embedder.embed(np.zeros((1, 3, 10, 112), np.float32))


def test_unknown_dtype_and_device_are_refused(family_weights):
    with pytest.raises(ValueError, match="choose one of float32, bfloat16, float16"):
        TorchEmbedder.from_weights(family_weights, device="cpu", dtype="int8")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        TorchEmbedder.from_weights(family_weights, device="tpu")


def test_agreement_check_refuses_other_weights(tmp_path, family_weights, embedders):
    from vistamatch.model import random_state_dict, save_weights

    other = tmp_path / "other.npz"
    save_weights(random_state_dict(embedders[0].config, seed=99), other)
    theirs = TorchEmbedder.from_weights(other, device="cpu")
    with pytest.raises(EmbedderMismatchError, match="different weights"):
        check_agreement(embedders[0], theirs, _batch(2, 112, 112))
    theirs.fingerprint = embedders[0].fingerprint  # a lying fingerprint: the vectors still tell
    with pytest.raises(EmbedderMismatchError, match="disagree"):
        check_agreement(embedders[0], theirs, _batch(2, 112, 112))


def test_torch_matches_transformers_goldens():
    """The stored outputs of transformers' Dinov2Model (tests/model/fixtures), all four families."""
    from tests.model.parity_cases import FAMILIES, FIXTURES, GOLDENS, golden_key, parity_input

    with np.load(GOLDENS) as npz:
        for seed, (family, (_, filename)) in enumerate(FAMILIES.items()):
            embedder = TorchEmbedder.from_weights(FIXTURES / filename, device="cpu")
            shape = (2, 224, 308)
            golden = npz[golden_key(family, shape)]
            golden = golden / np.linalg.norm(golden, axis=1, keepdims=True)
            assert np.abs(embedder.embed(parity_input(*shape, seed=seed)) - golden).max() < 1e-4
