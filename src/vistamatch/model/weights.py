"""Weight files: .npz and .safetensors by suffix (or a transformers save_pretrained folder), plus
random weights for tests and benchmarks."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import WeightsError
from .config import (
    CONFIG_KEY,
    CONFIG_SOURCE_KEY,
    TRANSFORMERS_MODEL_TYPES,
    Dinov2Config,
    check_state_dict,
    config_from_state_dict,
    expected_shapes,
    fields_from_transformers,
    stored_config,
    stored_fields,
)
from .keys import from_released, to_released

# npz entry holding the metadata (a JSON string as a 0-d unicode array: loads without pickle)
_NPZ_METADATA = "__metadata__"
SUFFIXES = (".npz", ".safetensors")
# what transformers' save_pretrained writes in its folder
PRETRAINED_WEIGHTS, PRETRAINED_CONFIG = "model.safetensors", "config.json"


class StateDict(dict):
    """name -> array, plus string metadata that travels with the file (e.g. the head count)."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray] = (),
        metadata: Mapping[str, str] | None = None,
    ):
        super().__init__(arrays)
        self.metadata: dict[str, str] = dict(metadata or {})


def config_metadata(config: Dinov2Config) -> dict[str, str]:
    """The architecture, head count included, stored with the weights."""
    return {CONFIG_KEY: json.dumps(stored_fields(config))}


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise WeightsError(
            f"{path}: unknown weights format {suffix or '(no suffix)'}; use .npz or .safetensors"
        )
    return suffix


def read_weights(
    path: str | os.PathLike, config_file: str | os.PathLike | None = None
) -> StateDict:
    """Read every tensor of a .npz or .safetensors file (names as stored), with its metadata.

    `path` may be a save_pretrained folder (its model.safetensors). A transformers DINOv2
    config.json beside a .safetensors (or `config_file`) joins the metadata; where the file's own
    metadata says otherwise, the error names both files.
    """
    path = Path(path)
    if path.is_dir():
        path = _pretrained_weights(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        state = _read_npz(path) if suffix == ".npz" else _read_safetensors(path)
    except Exception as exc:  # a truncated or foreign file: one readable line
        raise WeightsError(
            f"{path}: cannot read weights ({type(exc).__name__}: {exc})"
        ) from exc
    if config_file is None and suffix == ".safetensors":
        config_file = path.with_name(PRETRAINED_CONFIG)
    if config_file is not None:
        _add_transformers_config(state, path, Path(config_file))
    return state


def _pretrained_weights(folder: Path) -> Path:
    weights = folder / PRETRAINED_WEIGHTS
    if not weights.is_file():
        raise WeightsError(
            f"{folder} is a folder without {PRETRAINED_WEIGHTS} (what save_pretrained writes; "
            "sharded checkpoints are not supported): give a .npz or .safetensors file"
        )
    return weights


def _add_transformers_config(state: StateDict, path: Path, config_file: Path) -> None:
    """Merge a DINOv2 config.json into the metadata (one of another model type is not ours: ignored)."""
    if not config_file.is_file():
        return
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WeightsError(f"{config_file}: cannot read it ({type(exc).__name__}: {exc})") from None
    if not isinstance(config, dict) or config.get("model_type") not in TRANSFORMERS_MODEL_TYPES:
        return
    source = f"{config_file} (beside {path.name})"
    fields = fields_from_transformers(config, source)
    own, _ = stored_config(state.metadata)
    clashes = [
        f"{name} {own[name]} in {path.name}, {fields[name]} in {config_file.name}"
        for name in fields.keys() & own.keys()
        if fields[name] != own[name]
    ]
    if clashes:
        raise WeightsError(
            f"{path} and {config_file} disagree: " + "; ".join(sorted(clashes))
        )
    state.metadata[CONFIG_KEY] = json.dumps(own | fields)
    state.metadata[CONFIG_SOURCE_KEY] = source


def _read_npz(path: Path) -> StateDict:
    with np.load(path, allow_pickle=False) as npz:
        return from_npz(npz)


def from_npz(npz: np.lib.npyio.NpzFile) -> StateDict:
    """The tensors and metadata of an opened .npz (what `np.load` returns)."""
    arrays = {name: npz[name] for name in npz.files}
    meta_entry = arrays.pop(_NPZ_METADATA, None)
    metadata = json.loads(str(meta_entry)) if meta_entry is not None else {}
    return StateDict(arrays, metadata)


def _read_safetensors(path: Path) -> StateDict:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata() or {}
        arrays = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    metadata.pop("format", None)
    return StateDict(arrays, metadata)


def save_weights(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write atomically as .npz or .safetensors (by suffix); keeps a StateDict's metadata."""
    path = Path(path)
    suffix = _suffix(path)
    metadata = dict(getattr(state_dict, "metadata", {}) or {})
    arrays = {k: np.ascontiguousarray(v) for k, v in state_dict.items()}
    if suffix == ".npz":
        buf = io.BytesIO()
        if metadata:
            arrays[_NPZ_METADATA] = np.array(json.dumps(metadata))
        np.savez(buf, **arrays)
        data = buf.getvalue()
    else:
        from safetensors.numpy import save

        data = save(arrays, metadata={"format": "np", **metadata})
    atomic_write_bytes(path, data)


def convert_weights(
    source: str | os.PathLike,
    target: str | os.PathLike,
    *,
    style: str = "released",
    num_attention_heads: int | None = None,
) -> Dinov2Config:
    """Rewrite a weights file in another format (by suffix) and key style, after checking it fits."""
    raw = read_weights(source)
    weights = to_released(raw)
    try:
        config = config_from_state_dict(
            weights, raw.metadata, num_attention_heads=num_attention_heads
        )
        check_state_dict(weights, config)
    except WeightsError as exc:
        raise WeightsError(f"{source}: {exc}") from None
    metadata = {k: v for k, v in raw.metadata.items() if k != CONFIG_SOURCE_KEY}
    save_weights(
        StateDict(from_released(weights, style), metadata | config_metadata(config)),
        target,
    )
    return config


def random_state_dict(config: Dinov2Config, seed: int = 0) -> StateDict:
    """Random weights with the released key names and realistic scales (outputs are not degenerate)."""
    rng = np.random.default_rng(seed)
    out = StateDict(metadata=config_metadata(config))
    for name, shape in expected_shapes(config).items():
        out[name] = _random_tensor(rng, name, shape)
    out["embeddings.mask_token"] = np.zeros((1, config.hidden_size), np.float32)
    return out


def _random_tensor(
    rng: np.random.Generator, name: str, shape: tuple[int, ...]
) -> np.ndarray:
    if name.endswith("lambda1"):  # LayerScale in trained models spans ~0.1 .. 1
        values = rng.uniform(0.1, 1.0, shape)
    elif ("norm" in name) and name.endswith(".weight"):
        values = 1.0 + 0.1 * rng.standard_normal(shape)
    elif name.endswith(".bias"):
        values = 0.02 * rng.standard_normal(shape)
    elif name.endswith(("cls_token", "register_tokens", "position_embeddings")):
        values = 0.5 * rng.standard_normal(shape)
    else:  # weight matrices: variance-preserving over the input fan
        fan_in = int(np.prod(shape[1:]))
        values = rng.standard_normal(shape) / np.sqrt(fan_in)
    return values.astype(np.float32)
