"""Weight files: key styles, formats, metadata, and files that do not fit."""

from __future__ import annotations

import numpy as np
import pytest

from vistamatch.errors import WeightsError
from vistamatch.model import (
    Dinov2,
    Dinov2Config,
    load_model,
    random_state_dict,
    read_weights,
    save_weights,
)
from vistamatch.model.keys import detect_style, from_released, to_released

from .parity_cases import FAMILIES, FIXTURES, parity_input

X = parity_input(2, 98, 140, seed=1)


@pytest.fixture(scope="module", params=["dinov2-mlp", "registers-swiglu"])
def released(request):
    return read_weights(FIXTURES / FAMILIES[request.param][1])


def test_fixture_files_use_the_released_names(released):
    assert detect_style(list(released)) == "released"
    assert "embeddings.patch_embeddings.projection.weight" in released
    assert "encoder.layer.0.attention.attention.query.weight" in released


@pytest.mark.parametrize("style", ["transformers5", "facebookresearch"])
def test_key_styles_load_to_identical_outputs(released, style, tmp_path):
    variant = from_released(released, style)
    assert detect_style(list(variant)) == style
    assert set(variant) != set(released)
    path = tmp_path / f"{style}.safetensors"
    save_weights(type(released)(variant, released.metadata), path)
    reference = Dinov2(released)
    loaded = load_model(path)
    assert loaded.config == reference.config
    np.testing.assert_array_equal(loaded(X), reference(X))
    assert loaded.fingerprint == reference.fingerprint


def test_style_names(released):
    t5 = from_released(released, "transformers5")
    assert "encoder.layer.1.attention.q_proj.weight" in t5
    assert "encoder.layer.1.attention.o_proj.bias" in t5
    fb = from_released(released, "facebookresearch")
    for key in (
        "pos_embed",
        "cls_token",
        "patch_embed.proj.weight",
        "norm.weight",
        "blocks.1.attn.qkv.weight",
        "blocks.1.attn.proj.bias",
        "blocks.1.ls1.gamma",
        "blocks.0.ls2.gamma",
    ):
        assert key in fb, key
    d = released["embeddings.cls_token"].shape[-1]
    assert fb["blocks.0.attn.qkv.weight"].shape == (3 * d, d)
    if "embeddings.register_tokens" in released:
        assert "register_tokens" in fb
        assert "blocks.0.mlp.w12.weight" in fb and "blocks.0.mlp.w3.bias" in fb
        assert (
            "encoder.layer.0.mlp.gate_proj.weight" in t5
            and "encoder.layer.0.mlp.down_proj.weight" in t5
        )


def test_round_trip_through_every_style_is_exact(released):
    for style in ("transformers5", "facebookresearch"):
        back = to_released(from_released(released, style))
        assert set(back) == set(released)
        for k in released:
            np.testing.assert_array_equal(back[k], released[k])


@pytest.mark.parametrize("prefix", ["dinov2.", "model.", "dinov2_with_registers."])
def test_wrapper_prefixes_and_heads_are_ignored(released, prefix):
    wrapped = {prefix + k: v for k, v in released.items()}
    wrapped["classifier.weight"] = np.zeros((10, 64), np.float32)
    model = Dinov2(type(released)(wrapped, released.metadata))
    np.testing.assert_array_equal(model(X), Dinov2(released)(X))


@pytest.mark.parametrize(
    "first, second", [(".npz", ".safetensors"), (".safetensors", ".npz")]
)
def test_format_round_trip(tiny_config, tmp_path, first, second):
    sd = random_state_dict(
        Dinov2Config(**{**tiny_config.to_dict(), "num_register_tokens": 2}), seed=5
    )
    save_weights(sd, tmp_path / f"a{first}")
    again = read_weights(tmp_path / f"a{first}")
    save_weights(again, tmp_path / f"b{second}")
    back = read_weights(tmp_path / f"b{second}")
    assert set(back) == set(sd)
    for k in sd:
        assert back[k].dtype == np.float32
        np.testing.assert_array_equal(back[k], sd[k])
    assert back.metadata == sd.metadata
    assert load_model(tmp_path / f"b{second}").fingerprint == Dinov2(sd).fingerprint


def test_unexpected_key_is_named(tiny_config, tmp_path):
    sd = random_state_dict(tiny_config)
    sd["encoder.layer.0.attention.attention.q_norm.weight"] = np.ones(32, np.float32)
    save_weights(sd, tmp_path / "extra.npz")
    with pytest.raises(
        WeightsError,
        match=r"unexpected encoder\.layer\.0\.attention\.attention\.q_norm\.weight",
    ):
        load_model(tmp_path / "extra.npz")


def test_missing_layer_names_every_key_briefly(tiny_config, tmp_path):
    sd = random_state_dict(tiny_config)
    for k in [k for k in sd if k.startswith("encoder.layer.0.")]:
        del sd[k]
    save_weights(sd, tmp_path / "gap.npz")
    with pytest.raises(WeightsError) as info:
        load_model(tmp_path / "gap.npz")
    msg = str(info.value)
    assert "gap.npz" in msg and "missing encoder.layer.0." in msg and "more" in msg


def test_not_dinov2_at_all(tmp_path):
    save_weights(
        {"fc.weight": np.zeros((2, 2), np.float32)}, tmp_path / "other.safetensors"
    )
    with pytest.raises(WeightsError, match="embeddings.cls_token"):
        load_model(tmp_path / "other.safetensors")


def test_heads_must_divide_hidden(tiny_weights):
    with pytest.raises(WeightsError, match="not divisible"):
        load_model(tiny_weights, num_attention_heads=3)


def test_unknown_option_is_a_weights_error(tiny_weights):
    with pytest.raises(WeightsError, match="unknown model option"):
        load_model(tiny_weights, heads=3)
    with pytest.raises(ValueError, match="unknown interpolation"):
        load_model(tiny_weights, interpolation="bilinear")


def test_half_precision_weights_are_used_as_float32(
    tiny_config, tiny_weights, tmp_path
):
    sd = read_weights(tiny_weights)
    half = type(sd)({k: v.astype(np.float16) for k, v in sd.items()}, sd.metadata)
    save_weights(half, tmp_path / "half.safetensors")
    out = load_model(tmp_path / "half.safetensors")(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, load_model(tiny_weights)(X), atol=0.05)
