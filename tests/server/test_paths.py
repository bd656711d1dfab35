"""GalleryPaths: only image files inside the gallery resolve; everything else is refused."""

from __future__ import annotations

import pytest

from vistamatch.imaging import IMAGE_EXTENSIONS
from vistamatch.server.paths import GalleryPaths, UnsafePath, gallery_url, thumb_url


@pytest.fixture
def paths(server_gallery) -> GalleryPaths:
    return GalleryPaths(server_gallery, IMAGE_EXTENSIONS)


def test_images_inside_resolve(paths, server_gallery, html_name):
    assert paths.resolve("chelsea.png") == (server_gallery / "chelsea.png").resolve()
    assert paths.resolve("sub/coffee.webp") == (server_gallery / "sub" / "coffee.webp").resolve()
    assert paths.resolve(html_name).name == html_name
    # a link that stays inside the gallery is fine
    assert paths.resolve("link_in.png") == (server_gallery / html_name).resolve()


@pytest.mark.parametrize(
    "relative",
    [
        "",
        "../outside/secret.jpg",
        "sub/../../outside/secret.jpg",
        "sub/../chelsea.png",  # even when it would land inside: no '..' at all
        "./chelsea.png",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "sub\\coffee.webp",
        "chelsea.png\x00.jpg",
        "link_out.jpg",  # symlink to a file outside
        "sub/link_dir_out/secret.jpg",  # through a symlinked folder leading outside
        "notes.txt",  # not an image
        ".hidden.jpg",
        "missing.jpg",
        "sub",
        "x" * 5000 + ".jpg",  # longer than any file name may be
    ],
)
def test_everything_else_is_refused(paths, relative):
    with pytest.raises(UnsafePath):
        paths.resolve(relative)


def test_urls_are_percent_encoded_paths(html_name):
    assert gallery_url("sub/a b#1.jpg") == "/gallery_images/sub/a%20b%231.jpg"
    assert thumb_url(html_name) == "/thumbs/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.png"
