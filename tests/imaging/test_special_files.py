"""The loader reads regular files only: a FIFO, a socket or a device is one ImageLoadError, at once."""

from __future__ import annotations

import pytest

from vistamatch.errors import ImageLoadError
from vistamatch.imaging import load_and_preprocess, load_image


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("x.jpg", "a FIFO, not a regular file"),
        ("s.jpg", "a socket, not a regular file"),
        ("z.png", "a character device, not a regular file"),  # a link to /dev/null
        ("sub", "a directory, not a regular file"),
    ],
)
@pytest.mark.parametrize("loader", [load_image, load_and_preprocess])
def test_not_a_regular_file_is_refused_without_blocking(special_gallery, within, loader, name, reason):
    with pytest.raises(ImageLoadError) as caught:
        within(10, loader, special_gallery / name)
    assert caught.value.name == str(special_gallery / name)
    assert caught.value.reason == reason and not caught.value.damaged


def test_a_file_over_the_size_cap_is_refused(special_gallery, monkeypatch):
    assert load_image(special_gallery / "a.jpg").size == (64, 48)
    monkeypatch.setenv("VISTAMATCH_MAX_FILE_MB", str(1 / 1024))
    with pytest.raises(ImageLoadError, match=r"file too large .* VISTAMATCH_MAX_FILE_MB"):
        load_image(special_gallery / "a.jpg", name="a.jpg")


def test_links_and_missing_files(special_gallery):
    assert load_image(special_gallery / "in.jpg").size == (64, 48)  # a link to a regular file reads
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(special_gallery / "d.jpg")
