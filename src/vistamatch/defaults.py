"""Default file locations: the original project's layout, overridable by its environment variables.

Read at call time, so tests and the server can set the variables before use.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "dinov2-base"

# Results one search may ask for: the API's bounds, and the CLI's (`vistamatch search --topk`).
TOPK_MIN, TOPK_MAX, TOPK_DEFAULT = 1, 200, 50


def _env_path(var: str, default: str) -> Path:
    return Path(os.environ.get(var) or default)


def weights_path() -> Path:
    return _env_path("WEIGHTS_PATH", "vit-dinov2-base.npz")


def gallery_dir() -> Path:
    return _env_path("GALLERY_DIR", "gallery_images")


def features_path() -> Path:
    return _env_path("GALLERY_FEATURES_PATH", "gallery_features.npy")


def mapping_path() -> Path:
    return _env_path("GALLERY_MAPPING_PATH", "gallery_mapping.npy")


def manifest_path() -> Path:
    """Beside the features file unless GALLERY_MANIFEST_PATH says otherwise."""
    default = features_path().with_name("gallery_manifest.json")
    return _env_path("GALLERY_MANIFEST_PATH", str(default))


def history_path() -> Path:
    return _env_path("HISTORY_PATH", "search_history.json")


def history_max_len() -> int:
    return int(os.environ.get("HISTORY_MAX_LEN") or 200)


def near_dup_threshold() -> float:
    return float(os.environ.get("DEDUP_FEAT_SIM_TH") or 0.9995)


def follow_outside_links() -> bool:
    """$VISTAMATCH_FOLLOW_OUTSIDE_LINKS: index and serve gallery symlinks to files outside the gallery."""
    return (os.environ.get("VISTAMATCH_FOLLOW_OUTSIDE_LINKS") or "0").lower() not in ("0", "false", "no")


def embedder_kind() -> str:
    """$VISTAMATCH_EMBEDDER: auto (torch on a GPU, else numpy), numpy or torch."""
    return os.environ.get("VISTAMATCH_EMBEDDER") or "auto"


def device() -> str:
    """$VISTAMATCH_DEVICE: cpu (the default: the NumPy embedder), cuda, cuda:N or auto."""
    return os.environ.get("VISTAMATCH_DEVICE") or "cpu"


def dtype() -> str:
    """$VISTAMATCH_DTYPE: float32, or bfloat16 / float16 (the torch embedder)."""
    return os.environ.get("VISTAMATCH_DTYPE") or "float32"


STORE_KINDS = ("auto", "exact", "ann")


def store_kind() -> str:
    """$VISTAMATCH_STORE: the vector store to build and search with (auto, exact or ann; default auto)."""
    kind = (os.environ.get("VISTAMATCH_STORE") or "auto").strip().lower()
    if kind not in STORE_KINDS:
        from .errors import VistaMatchError

        raise VistaMatchError(f"VISTAMATCH_STORE must be one of {', '.join(STORE_KINDS)}, not {kind!r}")
    return kind
