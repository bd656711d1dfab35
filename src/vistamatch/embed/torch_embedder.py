"""The PyTorch embedder (optional extra `torch`): the same weights file on CUDA when there is a GPU,
else on the CPU; float32 by default, bfloat16 / float16 autocast as an option (LayerNorm and
softmax stay float32 under autocast). torch is imported only when one is built."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from ..errors import VistaMatchError
from ..model import Dinov2Config
from ..model.dinov2 import check_input, checked_weights, fingerprint, read_model_weights
from ..model.posembed import PositionTables

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")
INSTALL_HINT = "pip install 'vistamatch[torch]'"


class TorchUnavailableError(VistaMatchError):
    """torch is not installed, or the device asked for is not there."""


def import_torch():
    try:
        import torch
    except ImportError as exc:
        raise TorchUnavailableError(f"the torch embedder needs PyTorch ({exc}): {INSTALL_HINT}") from None
    return torch


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a GPU is usable, else "cpu"; "cuda" without one is refused."""
    torch = import_torch()
    kind = device.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)} (or cuda:N)")
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise TorchUnavailableError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    return device


class TorchEmbedder:
    name = "torch"

    def __init__(
        self,
        weights: Mapping[str, np.ndarray],
        config: Dinov2Config | None = None,
        *,
        device: str = "auto",
        dtype: str = "float32",
        threads: int | None = None,
    ):
        torch = import_torch()
        from .torch_dinov2 import TorchDinov2

        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
        weights, config = checked_weights(weights, config)
        self.config = config
        self.fingerprint = fingerprint(weights, config)
        self.device = resolve_device(device)
        self.dtype = dtype
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has one intra-op pool
        module = TorchDinov2(config)
        module.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in weights.items()})
        self.module = module.to(self.device).eval()
        self._torch = torch
        self._positions = PositionTables(  # resized as the NumPy model does, kept on the device
            np.asarray(weights["embeddings.position_embeddings"], np.float32)[0, 1:],
            config,
            lambda table: torch.from_numpy(np.ascontiguousarray(table)).to(self.device),
        )

    @classmethod
    def from_weights(
        cls,
        path: str | os.PathLike,
        *,
        device: str = "auto",
        dtype: str = "float32",
        threads: int | None = None,
        interpolation: str = "transformers",
        **config_overrides,
    ) -> TorchEmbedder:
        """Reads the file as `load_model` does (same options, same checks)."""
        weights, config = read_model_weights(path, interpolation, **config_overrides)
        return cls(weights, config, device=device, dtype=dtype, threads=threads)

    @property
    def dim(self) -> int:
        return self.config.hidden_size

    def embed(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = check_input(batch, self.config)
        _, _, height, width = x.shape
        p = self.config.patch_size
        positions = self._positions.get(height // p, width // p, height, width)
        tensor = torch.from_numpy(np.ascontiguousarray(x))
        if self.device != "cpu":
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        with torch.inference_mode(), self._autocast():
            out = self.module(tensor, positions)
        out = torch.nn.functional.normalize(out.float(), dim=-1, eps=1e-12)
        return out.cpu().numpy()

    def _autocast(self):
        torch = self._torch
        kind = self.device.split(":")[0]
        if self.dtype == "float32":
            return torch.autocast(kind, enabled=False)
        return torch.autocast(kind, dtype=getattr(torch, self.dtype))

    def describe(self) -> str:
        where = self.device
        if where.startswith("cuda"):
            where += f" ({self._torch.cuda.get_device_name(self.device)})"
        else:
            where += f" ({self._torch.get_num_threads()} threads)"
        return f"torch {self._torch.__version__} {self.dtype} on {where}: {self.config.describe()}"
