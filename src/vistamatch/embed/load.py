"""One function to get an embedder for a weights file: NumPy, PyTorch, or the best one here."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import VistaMatchError
from .base import Embedder
from .numpy_embedder import NumpyEmbedder
from .torch_embedder import DEVICES, TorchUnavailableError, import_torch

KINDS = ("auto", "numpy", "torch")


class EmbedderChoiceError(VistaMatchError, ValueError):
    """An embedder, device or dtype that does not exist or does not go together."""


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
        raise EmbedderChoiceError(f"unknown embedder {kind!r}: choose one of {', '.join(KINDS)}")
    if device.split(":")[0] not in DEVICES:
        raise EmbedderChoiceError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)} (or cuda:N)")
    if kind == "auto":
        kind = "torch" if device != "cpu" and _torch_has_gpu(required=device.startswith("cuda")) else "numpy"
    if kind == "torch":
        from .torch_embedder import TorchEmbedder

        return TorchEmbedder.from_weights(weights, device=device, dtype=dtype, threads=threads, **model_options)
    if device.startswith("cuda"):
        raise EmbedderChoiceError("the numpy embedder runs on the CPU only: use kind='torch' for cuda")
    if dtype != "float32":
        raise EmbedderChoiceError(f"the numpy embedder computes in float32 only; {dtype} needs kind='torch'")
    return NumpyEmbedder.from_weights(weights, threads=threads, backend=backend, **model_options)


def _torch_has_gpu(required: bool) -> bool:
    try:
        torch = import_torch()
    except TorchUnavailableError:
        if required:
            raise
        return False
    return required or torch.cuda.is_available()


@dataclass(frozen=True)
class EmbedderSpec:
    """What `load_embedder` needs, as a picklable value: the CLI and the server make one from
    their options, and a Ray build ships it to its actors, which load their own embedder."""

    weights: str  # a resolved weights file
    kind: str = "auto"
    device: str = "cpu"
    dtype: str = "float32"
    options: tuple[tuple[str, object], ...] = ()  # load_model options, e.g. (("num_attention_heads", 12),)

    def load(self, **overrides) -> Embedder:
        values = {"kind": self.kind, "device": self.device, "dtype": self.dtype, **dict(self.options), **overrides}
        return load_embedder(self.weights, **values)


def as_embedder(model_or_embedder) -> Embedder:
    """An Embedder as it is; a bare model (our Dinov2, or a test's stand-in with `__call__`,
    `fingerprint` and `config`) wrapped in a NumpyEmbedder."""
    if hasattr(model_or_embedder, "embed"):
        return model_or_embedder
    return NumpyEmbedder(model_or_embedder)


def embedder_key(embedder: Embedder) -> dict[str, str]:
    """What an index records of the embedder that computed its rows (besides the weights'
    fingerprint): embedders with another key must agree with the stored rows to update it."""
    return {"name": embedder.name, "dtype": getattr(embedder, "dtype", "float32")}
