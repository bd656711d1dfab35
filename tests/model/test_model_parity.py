"""Parity with transformers' Dinov2Model / Dinov2WithRegistersModel.

Default run: against golden outputs in tests/model/fixtures (no torch needed; regenerate them
with `python tools/make_parity_fixtures.py`). Marked `torch`: live against freshly built models.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vistamatch.model import load_model

from .backends import BACKENDS
from .parity_cases import FAMILIES, FIXTURES, GOLDENS, SHAPES, golden_key, parity_input

MAX_ABS = 1e-4
MIN_COSINE = 0.99999


def assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    diff = float(np.abs(ours - ref).max())
    cos = np.sum(ours * ref, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1)
    )
    assert diff < MAX_ABS, f"max abs diff {diff:.2e}"
    assert cos.min() > MIN_COSINE, f"cosine {cos.min():.7f}"


@pytest.fixture(scope="module")
def goldens() -> dict[str, np.ndarray]:
    with np.load(GOLDENS) as npz:
        return dict(npz)


def _golden_cases():
    for index, (family, (fields, _)) in enumerate(FAMILIES.items()):
        # the register hub models resize like transformers (see posembed.interpolation_options)
        modes = (
            ["transformers"]
            if fields.get("num_register_tokens")
            else ["transformers", "facebookresearch"]
        )
        for interpolation in modes:
            for shape in SHAPES:
                case = f"{family}-{interpolation}-{shape[0]}x{shape[1]}x{shape[2]}"
                yield pytest.param(family, index, interpolation, shape, id=case)


@pytest.mark.parametrize("threads", [1, 2])  # pieces in turn; shared between two threads
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family, seed, interpolation, shape", list(_golden_cases()))
def test_cls_matches_golden(goldens, family, seed, interpolation, shape, backend, threads):
    model = load_model(
        FIXTURES / FAMILIES[family][1],
        interpolation=interpolation,
        backend=backend,
        threads=threads,
    )
    assert_close(
        model(parity_input(*shape, seed=seed)),
        goldens[golden_key(family, shape, interpolation)],
    )


def test_facebookresearch_interpolation_differs_from_transformers(goldens):
    # otherwise the option's test above would prove nothing
    shape = (2, 224, 308)
    a = goldens[golden_key("dinov2-mlp", shape)]
    b = goldens[golden_key("dinov2-mlp", shape, "facebookresearch")]
    assert np.abs(a - b).max() > 10 * MAX_ABS


def test_architecture_is_read_from_each_file():
    for fields, filename in FAMILIES.values():
        c = load_model(FIXTURES / filename).config
        assert c.hidden_size == fields["hidden_size"]
        assert c.num_hidden_layers == fields["num_hidden_layers"]
        assert c.num_register_tokens == fields.get("num_register_tokens", 0)
        assert c.use_swiglu_ffn == fields.get("use_swiglu_ffn", False)
        assert c.patch_size == fields.get("patch_size", 14)
        assert c.image_size == fields["image_size"] // c.patch_size * c.patch_size


# ---- live comparison ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transformers_module():
    pytest.importorskip(
        "torch", reason="live parity needs torch (pip install -e '.[parity]')"
    )
    return pytest.importorskip(
        "transformers",
        reason="live parity needs transformers (pip install -e '.[parity]')",
    )


def _live_reference(transformers_module, fields: dict, seed: int):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
    from make_parity_fixtures import build_reference

    return build_reference(fields, seed)


def _reference_output(ref, x: np.ndarray):
    """transformers' output for a NumPy batch (pooler_output is the CLS after the final norm)."""
    import torch

    with torch.no_grad():
        return ref(pixel_values=torch.from_numpy(x))


LIVE_FAMILIES = {
    "dinov2-mlp": {"use_swiglu_ffn": False},
    "dinov2-swiglu": {"use_swiglu_ffn": True},
    "registers-mlp": {"num_register_tokens": 4},
    "registers-swiglu": {"num_register_tokens": 4, "use_swiglu_ffn": True},
}
LIVE_SHAPES = [(2, 224, 224), (2, 224, 308), (2, 98, 140), (1, 308, 224)]


@pytest.mark.torch
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", list(LIVE_FAMILIES))
def test_live_against_transformers(transformers_module, tmp_path, family, backend):

    fields = dict(
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        image_size=518,
        **LIVE_FAMILIES[family],
    )
    ref = _live_reference(transformers_module, fields, seed=7)
    path = tmp_path / "w.safetensors"
    ref.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").rename(path)
    model = load_model(
        path, num_attention_heads=4, backend=backend
    )  # a save_pretrained file carries no head count
    for shape in LIVE_SHAPES:
        x = parity_input(*shape, seed=3)
        out = _reference_output(ref, x)
        assert_close(model(x), out.pooler_output.numpy())
        feats = model.forward_features(x)
        r = fields.get("num_register_tokens", 0)
        assert (
            np.abs(
                feats["patch_tokens"] - out.last_hidden_state[:, 1 + r :].numpy()
            ).max()
            < MAX_ABS
        )
        assert feats["register_tokens"].shape == (shape[0], r, 64)
        if r:
            assert (
                np.abs(
                    feats["register_tokens"]
                    - out.last_hidden_state[:, 1 : 1 + r].numpy()
                ).max()
                < MAX_ABS
            )


@pytest.mark.torch
def test_live_facebookresearch_option(transformers_module, tmp_path):
    import types

    from make_parity_fixtures import facebookresearch_interpolation

    fields = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 518,
    }
    ref = _live_reference(transformers_module, fields, seed=11)
    ref.embeddings.interpolate_pos_encoding = types.MethodType(
        facebookresearch_interpolation, ref.embeddings
    )
    ref.save_pretrained(tmp_path)
    model = load_model(
        tmp_path / "model.safetensors",
        num_attention_heads=4,
        interpolation="facebookresearch",
    )
    for shape in LIVE_SHAPES:
        x = parity_input(*shape, seed=5)
        assert_close(model(x), _reference_output(ref, x).pooler_output.numpy())


@pytest.mark.torch
def test_live_giant_layout(transformers_module, tmp_path):
    """ViT-g/14's real widths (SwiGLU 4096 from mlp_ratio 4), one layer, read without metadata."""

    fields = {
        "hidden_size": 1536,
        "num_hidden_layers": 1,
        "num_attention_heads": 24,
        "image_size": 518,
        "use_swiglu_ffn": True,
    }
    ref = _live_reference(transformers_module, fields, seed=2)
    ref.save_pretrained(tmp_path)
    model = load_model(tmp_path / "model.safetensors")
    assert (model.config.num_attention_heads, model.config.intermediate_size) == (
        24,
        4096,
    )
    x = parity_input(1, 70, 98, seed=2)
    assert_close(model(x), _reference_output(ref, x).pooler_output.numpy())


def test_golden_inputs_are_not_trivial():
    x = parity_input(2, 98, 140)
    assert x.dtype == np.float32 and x.shape == (2, 3, 98, 140)
    assert -2.0 <= x.min() < -1.9 and 1.9 < x.max() < 2.0
    assert abs(float(x.mean())) < 0.1 and not math.isclose(float(x[0].std()), 0.0)
    assert not np.array_equal(x[0], x[1])
