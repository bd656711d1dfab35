"""load_embedder: which embedder "auto" picks, and clear errors for what cannot be had."""

from __future__ import annotations

import sys

import pytest

from vistamatch.embed import NumpyEmbedder, TorchUnavailableError, load_embedder


@pytest.fixture
def without_torch(monkeypatch):
    """`import torch` fails, as where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "torch", None)


def test_auto_is_numpy_without_torch(without_torch, tiny_weights):
    embedder = load_embedder(tiny_weights)
    assert isinstance(embedder, NumpyEmbedder) and embedder.device == "cpu"
    assert isinstance(load_embedder(tiny_weights, device="auto"), NumpyEmbedder)


def test_torch_or_cuda_without_torch_says_what_to_install(without_torch, tiny_weights):
    for kwargs in ({"kind": "torch"}, {"kind": "auto", "device": "cuda"}):
        with pytest.raises(TorchUnavailableError, match=r"pip install 'vistamatch\[torch\]'"):
            load_embedder(tiny_weights, **kwargs)


def test_auto_without_a_gpu_is_numpy(tiny_weights):
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'vistamatch[torch]')")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: auto picks torch")
    assert isinstance(load_embedder(tiny_weights), NumpyEmbedder)
    with pytest.raises(TorchUnavailableError, match="no CUDA GPU"):
        load_embedder(tiny_weights, "torch", device="cuda")


def test_torch_on_the_cpu_when_asked(tiny_weights):
    pytest.importorskip("torch", reason="needs torch (pip install 'vistamatch[torch]')")
    embedder = load_embedder(tiny_weights, "torch", device="cpu", dtype="bfloat16")
    assert (embedder.name, embedder.device, embedder.dtype) == ("torch", "cpu", "bfloat16")


def test_what_numpy_cannot_do_is_refused(tiny_weights):
    with pytest.raises(ValueError, match="float32 only; bfloat16 needs kind='torch'"):
        load_embedder(tiny_weights, "numpy", dtype="bfloat16")
    with pytest.raises(ValueError, match="CPU only"):
        load_embedder(tiny_weights, "numpy", device="cuda")
    with pytest.raises(ValueError, match="choose one of auto, numpy, torch"):
        load_embedder(tiny_weights, "onnx")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        load_embedder(tiny_weights, device="gpu")


def test_model_options_reach_the_model(tiny_weights):
    embedder = load_embedder(tiny_weights, "numpy", threads=1, backend="numpy", interpolation="facebookresearch")
    assert embedder.model.backend == "numpy" and embedder.model.threads == 1
    assert embedder.config.interpolate_offset == 0.1
