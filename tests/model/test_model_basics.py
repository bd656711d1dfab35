"""The NumPy DINOv2 on the shared tiny random weights: shapes, determinism, batching, errors."""

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


@pytest.fixture(scope="module")
def tiny_model(tiny_weights):
    return load_model(tiny_weights)


def _images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_config_is_read_from_the_file(tiny_model, tiny_config):
    c = tiny_model.config
    assert (
        c.hidden_size,
        c.num_hidden_layers,
        c.num_attention_heads,
        c.intermediate_size,
    ) == (32, 2, 2, 64)
    assert (c.patch_size, c.image_size, c.num_register_tokens, c.use_swiglu_ffn) == (
        14,
        518,
        0,
        False,
    )
    assert c == tiny_config


def test_cls_output_shape_dtype_and_spread(tiny_model):
    out = tiny_model(_images((3, 3, 224, 224)))
    assert out.shape == (3, 32) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # random weights with realistic scales: different images give clearly different embeddings
    assert np.abs(out[0] - out[1]).max() > 1e-2


def test_batch_equals_one_by_one(tiny_model):
    x = _images((4, 3, 224, 308))
    batched = tiny_model(x)
    single = np.concatenate([tiny_model(x[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_forward_features_agree_with_call(tiny_model):
    x = _images((2, 3, 98, 140))
    feats = tiny_model.forward_features(x)
    assert feats["cls_token"].shape == (2, 32)
    assert feats["patch_tokens"].shape == (2, 7 * 10, 32)
    assert feats["register_tokens"].shape == (2, 0, 32)
    np.testing.assert_allclose(feats["cls_token"], tiny_model(x), atol=1e-5)


def test_fingerprint_is_stable_and_tracks_weights(
    tiny_weights, tiny_config, tmp_path, tiny_model
):
    again = load_model(tiny_weights)
    assert again.fingerprint == tiny_model.fingerprint
    other = tmp_path / "other.npz"
    save_weights(random_state_dict(tiny_config, seed=1), other)
    assert load_model(other).fingerprint != tiny_model.fingerprint
    assert (
        load_model(tiny_weights, interpolation="facebookresearch").fingerprint
        != tiny_model.fingerprint
    )


def test_bad_input_shapes_raise(tiny_model):
    with pytest.raises(ValueError, match="expected a"):
        tiny_model(np.zeros((3, 224, 224), np.float32))
    with pytest.raises(ValueError, match="smaller than one"):
        tiny_model(np.zeros((1, 3, 10, 224), np.float32))


def test_missing_and_misshaped_keys_are_named(tiny_config, tmp_path):
    sd = random_state_dict(tiny_config)
    del sd["encoder.layer.1.mlp.fc2.bias"]
    sd["encoder.layer.0.norm2.weight"] = np.ones(31, np.float32)
    path = tmp_path / "broken.npz"
    save_weights(sd, path)
    with pytest.raises(WeightsError) as info:
        load_model(path)
    message = str(info.value)
    assert "encoder.layer.1.mlp.fc2.bias" in message
    assert "encoder.layer.0.norm2.weight (31,)" in message
    assert "\n" not in message


def test_not_a_weights_file(tmp_path):
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"this is not a zip archive")
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_model(bad)
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(WeightsError, match="unknown weights format"):
        read_weights(tmp_path / "weights.bin")


def test_head_count_travels_in_the_file(tmp_path):
    cfg = Dinov2Config(
        hidden_size=48, num_hidden_layers=1, num_attention_heads=3, intermediate_size=96
    )
    for suffix in (".npz", ".safetensors"):
        path = tmp_path / f"w{suffix}"
        save_weights(random_state_dict(cfg), path)
        assert load_model(path).config.num_attention_heads == 3


def test_model_from_in_memory_state_dict(tiny_config):
    sd = random_state_dict(tiny_config, seed=3)
    model = Dinov2(sd)
    assert model.config.num_attention_heads == 2
    assert model(_images((1, 3, 28, 42))).shape == (1, 32)


def test_remainder_pixels_are_dropped_like_the_strided_convolution(tiny_model):
    x = _images((1, 3, 230, 235))
    np.testing.assert_allclose(
        tiny_model(x), tiny_model(np.ascontiguousarray(x[:, :, :224, :224])), atol=1e-5
    )


@pytest.mark.parametrize(
    "hidden, heads, swiglu, width",
    [
        (384, 6, False, 1536),
        (768, 12, False, 3072),
        (1024, 16, False, 4096),
        (1536, 24, True, 4096),
    ],
    ids=["S", "B", "L", "g"],
)
def test_released_sizes_are_recognised(hidden, heads, swiglu, width):
    # one layer of each released size: heads follow from the 64-wide heads of every released model
    cfg = Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=heads,
        intermediate_size=width,
        use_swiglu_ffn=swiglu,
        image_size=28,
    )
    sd = dict(random_state_dict(cfg))  # a plain dict: no metadata to help
    model = Dinov2(sd)
    assert model.config == cfg
    assert model(_images((1, 3, 28, 28))).shape == (1, hidden)
