"""VistaMatch: self-hosted image-to-image search with a NumPy DINOv2."""

__version__ = "0.1.0"


def load_model(path, **kwargs):
    """Load a DINOv2 model from a weights file (.npz, .safetensors; see ``vistamatch.model``)."""
    from .model import load_model as _load_model

    return _load_model(path, **kwargs)


__all__ = ["load_model", "__version__"]
