"""An indexed copy of the sample gallery for the CLI tests, and the crawler tests' loopback image host."""

import shutil

import pytest
from crawler.imagehost import ImageHost  # tests/ is on sys.path (rootdir-relative packages)


@pytest.fixture(scope="module")
def setup(photo_gallery, tiny_weights, tmp_path_factory):
    """(gallery, options naming weights and index files, the index-file options alone, root folder)."""
    root = tmp_path_factory.mktemp("cli")
    gallery = root / "gallery"
    shutil.copytree(photo_gallery, gallery)
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    idx = root / "idx"
    files = ["--features", str(idx / "f.npy"), "--mapping", str(idx / "m.npy"), "--manifest", str(idx / "manifest.json")]
    return gallery, ["--weights", str(tiny_weights), *files], files, root


@pytest.fixture
def image_host(photos):
    host = ImageHost(photos).start()
    yield host
    host.stop()

