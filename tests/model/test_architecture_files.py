"""The architecture is read, never guessed: config.json beside a .safetensors, save_pretrained
folders, the head count in every file written, and files that cannot say their heads refused."""

from __future__ import annotations

import json

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
from vistamatch.model.config import stored_fields
from vistamatch.model.weights import convert_weights

from .parity_cases import parity_input
from .test_model_parity import _live_reference, _reference_output, transformers_module  # noqa: F401

X = parity_input(2, 98, 140, seed=4)

# Non-64-wide heads: the released models' rule (hidden / 64) would give 0 -> 1 head and 1 head.
NON_RELEASED = {
    "48-wide, 3 heads of 16": {"hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 3, "mlp_ratio": 2},
    "64-wide, 2 heads of 32, registers, SwiGLU": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_register_tokens": 4,
        "use_swiglu_ffn": True,
        "patch_size": 14,
    },
}
SMALL = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=98)


def transformers_config(config: Dinov2Config, **changes) -> dict:
    """config.json as save_pretrained writes it for `config` (transformers' field names)."""
    fields = {
        "model_type": "dinov2",
        "hidden_size": config.hidden_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "mlp_ratio": config.intermediate_size / config.hidden_size,
        "hidden_act": "gelu",
        "layer_norm_eps": config.layer_norm_eps,
        "image_size": config.image_size,
        "patch_size": config.patch_size,
        "num_channels": config.num_channels,
        "use_swiglu_ffn": False,
    }
    return fields | changes


def pretrained_folder(folder, config: Dinov2Config, **config_changes):
    """A save_pretrained-like folder of random weights: model.safetensors without metadata + config.json."""
    folder.mkdir()
    save_weights(dict(random_state_dict(config, seed=2)), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(transformers_config(config, **config_changes)))
    return folder


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---- transformers' own save_pretrained folders ------------------------------------------------


@pytest.fixture(params=list(NON_RELEASED), scope="module")
def saved(request, transformers_module, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    """(a save_pretrained folder with non-64-wide heads, the transformers model it came from)."""
    fields = NON_RELEASED[request.param] | {"image_size": 98}
    reference = _live_reference(transformers_module, fields, seed=5)
    folder = tmp_path_factory.mktemp("pretrained")
    reference.save_pretrained(folder)
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "config.json"}
    return folder, reference, fields


@pytest.mark.torch
def test_a_save_pretrained_folder_with_other_heads_matches_transformers(saved):
    folder, reference, fields = saved
    expected = _reference_output(reference, X).pooler_output.numpy()
    for path in (folder, folder / "model.safetensors"):  # the folder, or its file with config.json beside
        model = load_model(path)
        assert model.config.num_attention_heads == fields["num_attention_heads"]
        ours = model(X)
        assert cosines(ours, expected).min() > 0.9999
        assert np.abs(ours - expected).max() < 1e-4


@pytest.mark.torch
def test_without_its_config_json_the_file_is_refused_until_told_the_heads(saved, tmp_path):
    folder, reference, fields = saved
    alone = tmp_path / "alone.safetensors"
    alone.write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(WeightsError) as refused:
        load_model(alone)
    message = str(refused.value)
    assert str(alone) in message and "--num-heads" in message and "num_attention_heads=" in message
    told = load_model(alone, num_attention_heads=fields["num_attention_heads"])
    np.testing.assert_array_equal(told(X), load_model(folder)(X))


@pytest.mark.torch
@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_what_we_write_keeps_the_head_count(saved, tmp_path, suffix):
    folder, reference, fields = saved
    out = tmp_path / f"converted{suffix}"  # no config.json beside it
    convert_weights(folder, out)
    stored = json.loads(read_weights(out).metadata["vistamatch_config"])
    assert stored["num_attention_heads"] == fields["num_attention_heads"]
    assert "vistamatch_config_source" not in read_weights(out).metadata  # where it was read is not stored
    np.testing.assert_array_equal(load_model(out)(X), load_model(folder)(X))


# ---- config.json and the shapes ---------------------------------------------------------------


def test_config_json_gives_the_heads_and_the_epsilon(tmp_path):
    folder = pretrained_folder(tmp_path / "m", SMALL, layer_norm_eps=1e-5)
    assert stored_fields(load_model(folder).config) == stored_fields(SMALL) | {"layer_norm_eps": 1e-5}


@pytest.mark.parametrize(
    "change, said",
    [
        ({"num_hidden_layers": 3}, "num_hidden_layers 3 where the weights have 2"),
        ({"hidden_size": 64}, "hidden_size 64 where the weights have 32"),
        ({"mlp_ratio": 4}, "intermediate_size 128 where the weights have 64"),
        ({"use_swiglu_ffn": True, "mlp_ratio": 3}, "use_swiglu_ffn True where the weights have False"),
        ({"patch_size": 16}, "patch_size 16 where the weights have 14"),
    ],
)
def test_a_config_json_that_contradicts_the_shapes_is_refused_naming_both_files(tmp_path, change, said):
    folder = pretrained_folder(tmp_path / "m", SMALL, **change)
    with pytest.raises(WeightsError, match=said) as refused:
        load_model(folder / "model.safetensors")
    assert str(folder / "config.json") in str(refused.value) and "beside model.safetensors" in str(refused.value)


def test_metadata_and_config_json_that_disagree_are_refused_naming_both(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    save_weights(random_state_dict(SMALL), folder / "model.safetensors")  # says 4 heads itself
    (folder / "config.json").write_text(json.dumps(transformers_config(SMALL, num_attention_heads=2)))
    with pytest.raises(WeightsError, match="num_attention_heads 4 in model.safetensors, 2 in config.json") as refused:
        read_weights(folder)
    assert str(folder / "model.safetensors") in str(refused.value) and str(folder / "config.json") in str(refused.value)


@pytest.mark.parametrize(
    "change, said",
    [
        ({"hidden_act": "relu"}, "hidden_act 'relu' is not supported"),
        ({"mlp_ratio": "2"}, "mlp_ratio '2' is not a valid value"),
        ({"num_attention_heads": 2.5}, "num_attention_heads 2.5 is not a valid value"),
    ],
)
def test_a_config_json_the_model_cannot_follow_is_refused(tmp_path, change, said):
    folder = pretrained_folder(tmp_path / "m", SMALL, **change)
    with pytest.raises(WeightsError, match=said) as refused:
        load_model(folder)
    assert str(folder / "config.json") in str(refused.value)


def test_a_config_json_of_another_model_is_not_read(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(random_state_dict(SMALL), path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "num_attention_heads": 7}))
    assert load_model(path).config.num_attention_heads == 4


def test_a_folder_without_model_safetensors_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(transformers_config(SMALL)))
    with pytest.raises(WeightsError, match="folder without model.safetensors"):
        load_model(tmp_path)


# ---- files that do not say their heads --------------------------------------------------------


def test_a_released_width_without_metadata_is_read_as_64_wide_heads(tmp_path):
    # as the original vit-dinov2-base.npz: 768 wide, no metadata -> 12 heads
    base = Dinov2Config(hidden_size=768, num_hidden_layers=1, num_attention_heads=12, intermediate_size=3072, image_size=28)
    path = tmp_path / "vit-dinov2-base.npz"
    save_weights(dict(random_state_dict(base)), path)
    assert read_weights(path).metadata == {}
    assert load_model(path).config.num_attention_heads == 12


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_another_width_without_metadata_is_refused_naming_the_option(tmp_path, suffix):
    path = tmp_path / f"plain{suffix}"
    save_weights(dict(random_state_dict(SMALL, seed=3)), path)
    with pytest.raises(WeightsError) as refused:
        load_model(path)
    message = str(refused.value)
    assert str(path) in message and "width 32 is not a released DINOv2 width" in message
    assert "--num-heads" in message and "num_attention_heads=" in message
    told = load_model(path, num_attention_heads=4)
    np.testing.assert_array_equal(told(X), Dinov2(random_state_dict(SMALL, seed=3))(X))


def test_converting_with_the_heads_stores_the_whole_architecture(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_weights(dict(random_state_dict(SMALL, seed=3)), plain)
    with pytest.raises(WeightsError, match=f"{plain}: .*--num-heads"):
        convert_weights(plain, tmp_path / "refused.npz")
    assert not (tmp_path / "refused.npz").exists()
    convert_weights(plain, tmp_path / "told.npz", num_attention_heads=4)
    stored = json.loads(read_weights(tmp_path / "told.npz").metadata["vistamatch_config"])
    assert stored == {
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "intermediate_size": 64,
        "patch_size": 14,
        "image_size": 98,
        "num_channels": 3,
        "num_register_tokens": 0,
        "use_swiglu_ffn": False,
        "num_attention_heads": 4,
        "layer_norm_eps": 1e-6,
    }
    assert load_model(tmp_path / "told.npz").config.num_attention_heads == 4


def test_stored_metadata_that_contradicts_the_shapes_is_refused(tmp_path):
    sd = random_state_dict(SMALL)
    sd.metadata["vistamatch_config"] = json.dumps({"num_attention_heads": 4, "num_hidden_layers": 5})
    save_weights(sd, tmp_path / "w.npz")
    with pytest.raises(WeightsError, match="metadata does not describe these weights: it says num_hidden_layers 5"):
        load_model(tmp_path / "w.npz")
