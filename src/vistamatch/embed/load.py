"""One function to get an embedder for a weights file: NumPy, PyTorch, or the best one here."""

from __future__ import annotations

import os

from .base import Embedder
from .numpy_embedder import NumpyEmbedder
from .torch_embedder import DEVICES, TorchUnavailableError, import_torch

KINDS = ("auto", "numpy", "torch")


def load_embedder(
    weights: str | os.PathLike,
    kind: str = "auto",
    *,
    device: str = "auto",
    dtype: str = "float32",
    threads: int | None = None,
    backend: str | None = None,
    **model_options,
) -> Embedder:
    """kind "numpy": our model on the CPU (backend: its kernels, see model/kernels.py); "torch":
    the PyTorch embedder on `device` (auto: CUDA when there is a GPU); "auto": torch when it is
    installed and a GPU is there (or device is cuda), else numpy (on the CPU it is as fast as
    torch or faster: benchmarks/bench_embedders.py). dtype float32, or bfloat16 / float16 (torch
    only). model_options: those of load_model (interpolation, num_attention_heads, ...)."""
    if kind not in KINDS:
        raise ValueError(f"unknown embedder {kind!r}: choose one of {', '.join(KINDS)}")
    if device.split(":")[0] not in DEVICES:
        raise ValueError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)} (or cuda:N)")
    if kind == "auto":
        kind = "torch" if device != "cpu" and _torch_has_gpu(required=device.startswith("cuda")) else "numpy"
    if kind == "torch":
        from .torch_embedder import TorchEmbedder

        return TorchEmbedder.from_weights(weights, device=device, dtype=dtype, threads=threads, **model_options)
    if device.startswith("cuda"):
        raise ValueError("the numpy embedder runs on the CPU only: use kind='torch' for cuda")
    if dtype != "float32":
        raise ValueError(f"the numpy embedder computes in float32 only; {dtype} needs kind='torch'")
    return NumpyEmbedder.from_weights(weights, threads=threads, backend=backend, **model_options)


def _torch_has_gpu(required: bool) -> bool:
    try:
        torch = import_torch()
    except TorchUnavailableError:
        if required:
            raise
        return False
    return required or torch.cuda.is_available()
