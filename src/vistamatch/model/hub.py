"""Released DINOv2 weights from the Hugging Face hub, converted to the .npz the tool uses.

huggingface_hub does the download (its cache, resumable transfers, HF_ENDPOINT mirrors,
HF_HUB_OFFLINE). Before it is asked, a short probe checks that the endpoint answers at all, so an
offline machine gets one readable line at once instead of minutes of retries.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .. import defaults
from ..atomic import atomic_write_text
from ..errors import WeightsError
from .config import CONFIG_SOURCE_KEY, check_state_dict, config_from_state_dict
from .keys import to_released
from .weights import SUFFIXES, StateDict, config_metadata, read_weights, save_weights

SIZES = ("small", "base", "large", "giant")
MODELS = {f"dinov2-{s}": f"facebook/dinov2-{s}" for s in SIZES} | {
    f"dinov2-with-registers-{s}": f"facebook/dinov2-with-registers-{s}" for s in SIZES
}
PROBE_TIMEOUT_S = 5.0


def default_weights_file(model: str = defaults.DEFAULT_MODEL) -> Path:
    """Where `weights fetch` writes by default: $WEIGHTS_PATH / vit-dinov2-base.npz for the default model."""
    _repo(model)
    return (
        defaults.weights_path()
        if model == defaults.DEFAULT_MODEL
        else Path(f"vit-{model}.npz")
    )


def fetch_command(model: str, out: Path) -> str:
    return f"vistamatch weights fetch --model {model} --out {out}"


def fetch_weights(
    model: str = defaults.DEFAULT_MODEL, out: str | os.PathLike | None = None
) -> Path:
    """Download `model` (e.g. "dinov2-base"), write it as .npz (released key names, head count in
    the metadata) and a `<file>.sha256` beside it. Returns the .npz path."""
    repo = _repo(model)
    out = Path(out) if out is not None else default_weights_file(model)
    if out.suffix.lower() not in SUFFIXES:
        raise WeightsError(f"--out must end in {' or '.join(SUFFIXES)}, got {out}")
    config_file = _download(repo, "config.json", model, out)
    weights_file = _download(repo, "model.safetensors", model, out)
    raw = read_weights(weights_file, config_file=config_file)
    if CONFIG_SOURCE_KEY not in raw.metadata:  # its config.json is not a DINOv2 one
        raise WeightsError(f"{repo}: config.json does not describe a DINOv2 model")
    weights = to_released(raw)
    config = config_from_state_dict(weights, raw.metadata)
    check_state_dict(weights, config)
    metadata = {**config_metadata(config), "source": f"{repo} (model.safetensors)"}
    save_weights(StateDict(weights, metadata), out)
    write_sha256(out)
    return out


def write_sha256(path: Path) -> Path:
    """`<path>.sha256` in sha256sum's format."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    target = path.with_name(path.name + ".sha256")
    atomic_write_text(target, f"{digest.hexdigest()}  {path.name}\n")
    return target


def resolve_weights(
    path: str | os.PathLike | None = None, model: str = defaults.DEFAULT_MODEL
) -> Path:
    """The weights file to load: `path` (default $WEIGHTS_PATH or vit-dinov2-base.npz) if it exists;
    the default file is fetched when missing; any other missing file is an error saying what to run.
    `path` may also be a model name ("dinov2-small"): its default file, fetched when missing."""
    if path is not None and str(path) in MODELS and not Path(path).exists():
        model, path = str(path), None
    default = default_weights_file(model)
    target = Path(path) if path is not None else default
    if target.is_file() or target.is_dir():  # a folder: save_pretrained's (read_weights checks)
        return target
    if target.exists():
        raise WeightsError(f"weights path is not a file: {target}")
    if target.resolve() == default.resolve():
        return fetch_weights(model, target)
    raise WeightsError(
        f"weights file not found: {target}; get it with: {fetch_command(model, target)}"
    )


def _repo(model: str) -> str:
    try:
        return MODELS[model]
    except KeyError:
        raise WeightsError(
            f"unknown model {model!r}; choose one of {', '.join(MODELS)}"
        ) from None


def _download(repo: str, filename: str, model: str, out: Path) -> str:
    """A file of `repo` from the local hub cache, else from the hub after a quick reachability probe."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return hf_hub_download(repo, filename, local_files_only=True)
    except LocalEntryNotFoundError:
        pass
    # read at call time (huggingface_hub reads them once, at import)
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT
    where = f"{endpoint}/{repo}"
    advice = (
        f"download {repo} ({filename}) from {where} on a connected machine with "
        f"`{fetch_command(model, out.name)}` and put the file at {out.resolve()}"
    )
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in (
        "1",
        "ON",
        "YES",
        "TRUE",
    ):
        raise WeightsError(
            f"offline (HF_HUB_OFFLINE is set) and {repo} is not in the hub cache: {advice}"
        )
    _probe(f"{endpoint}/{repo}/resolve/main/{filename}", advice)
    try:
        return hf_hub_download(repo, filename, endpoint=endpoint)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"cannot download {repo} ({reason}): {advice}") from exc


def _probe(url: str, advice: str) -> None:
    """One HEAD request with a short timeout: any HTTP answer means the endpoint is reachable."""
    import httpx

    try:
        httpx.head(url, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise WeightsError(
            f"cannot reach the hub ({type(exc).__name__}: {exc}): {advice}"
        ) from None
