"""The original project's `from dinov2_numpy import Dinov2Numpy` keeps working."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vistamatch.model import load_model

from .parity_cases import parity_input

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wrapper():
    spec = importlib.util.spec_from_file_location(
        "dinov2_numpy", ROOT / "dinov2_numpy.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_original_usage_gives_the_models_output(wrapper, tiny_weights):
    x = parity_input(2, 224, 224)
    expected = load_model(tiny_weights)(x)
    with np.load(tiny_weights) as npz:
        vit = wrapper.Dinov2Numpy(
            npz
        )  # the original: Dinov2Numpy(np.load("vit-dinov2-base.npz"))
    np.testing.assert_array_equal(vit(x), expected)
    np.testing.assert_array_equal(wrapper.Dinov2Numpy(str(tiny_weights))(x), expected)


def test_original_config_dict_sets_the_heads(wrapper, tiny_weights):
    with np.load(tiny_weights) as npz:
        arrays = {k: npz[k] for k in npz.files if not k.startswith("__")}
    # a plain mapping carries no metadata: 32 wide would default to 1 head; the dict says 2
    vit = wrapper.Dinov2Numpy(
        arrays, {"hidden_size": 32, "num_heads": 2, "num_layers": 2, "patch_size": 14}
    )
    assert vit.config.num_attention_heads == 2
    np.testing.assert_array_equal(
        vit(parity_input(1, 98, 98)), load_model(tiny_weights)(parity_input(1, 98, 98))
    )
