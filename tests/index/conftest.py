"""Fixtures of the index tests (helpers in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import PixelStatsModel, write_variants


@pytest.fixture
def stats_model() -> PixelStatsModel:
    return PixelStatsModel()


@pytest.fixture
def gallery(tmp_path, photos) -> Path:
    """12 small JPEG/PNG variants of the sample photos, some in sub-folders."""
    root = tmp_path / "gallery"
    write_variants(root, photos, 12)
    return root
