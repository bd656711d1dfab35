"""Only regular files are indexed: FIFOs, sockets, devices and links leading out are skipped and listed.

The builds with a FIFO run `vistamatch index` in a subprocess with a timeout: a build that blocks
on the FIFO fails the test instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys

from vistamatch.imaging import PreprocessConfig
from vistamatch.index import IndexPaths, Manifest, build_index
from vistamatch.index.pipeline import Claims, read_and_decode
from vistamatch.index.scan import GalleryFile, scan_gallery

REFUSED = {
    "x.jpg": "a FIFO, not a regular file",
    "s.jpg": "a socket, not a regular file",
    "d.jpg": "dangling symlink",
}


def problems(gallery, **options) -> dict[str, str | None]:
    return {f.path: f.problem for f in scan_gallery(gallery, **options)}


def test_the_scanner_lists_what_it_will_not_read_with_a_reason(special_gallery):
    found = problems(special_gallery)
    assert sorted(found) == ["a.jpg", "d.jpg", "in.jpg", "o.jpg", "s.jpg", "sub/b.png", "x.jpg", "z.png"]
    assert found["a.jpg"] is found["sub/b.png"] is found["in.jpg"] is None  # a link inside the gallery is fine
    for name, reason in REFUSED.items():
        assert reason in found[name], name
    for name in ("o.jpg", "z.png"):
        assert "outside the gallery" in found[name] and "--follow-outside-links" in found[name], name


def test_following_outside_links_still_refuses_devices(special_gallery):
    found = problems(special_gallery, follow_outside_links=True)
    assert found["o.jpg"] is None
    assert found["z.png"] == "a character device, not a regular file"
    for name, reason in REFUSED.items():
        assert reason in found[name], name


def test_files_over_the_size_cap_are_listed_not_read(special_gallery, monkeypatch):
    monkeypatch.setenv("VISTAMATCH_MAX_FILE_MB", str(1 / 1024))  # 1 KiB: both photos are larger
    found = problems(special_gallery)
    assert "file too large" in found["a.jpg"] and "VISTAMATCH_MAX_FILE_MB" in found["a.jpg"]


def test_a_fifo_swapped_in_after_the_scan_is_refused_without_blocking(special_gallery, within):
    file = GalleryFile("x.jpg", special_gallery / "x.jpg", 0, 0)  # as if it had been a regular file when scanned
    decoded = within(20, read_and_decode, file, PreprocessConfig(), Claims())
    assert decoded.error == "a FIFO, not a regular file" and decoded.digest is None


# `vistamatch index` with its address space capped at 2 GiB: a build reading /dev/zero dies of
# MemoryError in a second instead of taking the whole machine's memory.
CAPPED_INDEX = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    "sys.argv = ['vistamatch', *sys.argv[1:]]; runpy.run_module('vistamatch', run_name='__main__')"
)


def run_index(gallery, out, *options) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", CAPPED_INDEX, "index", str(gallery), *options, "--quiet"]
    cmd += ["--features", str(out / "gallery_features.npy"), "--mapping", str(out / "gallery_mapping.npy")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # a hang raises TimeoutExpired


def test_vistamatch_index_finishes_and_reports_every_skipped_entry(special_gallery, tiny_weights, tmp_path):
    done = run_index(special_gallery, tmp_path / "idx", "--weights", str(tiny_weights))
    assert done.returncode == 0, done.stderr
    assert "indexed 3 images" in done.stdout
    for name, reason in {**REFUSED, "o.jpg": "outside the gallery", "z.png": "outside the gallery"}.items():
        assert f"skipped {name}: " in done.stdout and reason in done.stdout, name
    manifest = Manifest.load(IndexPaths.in_dir(tmp_path / "idx").manifest)
    assert [f.path for f in manifest.indexed] == ["a.jpg", "in.jpg", "sub/b.png"]
    assert {f.path for f in manifest.skipped} == {"d.jpg", "o.jpg", "s.jpg", "x.jpg", "z.png"}


def test_vistamatch_index_follow_outside_links(special_gallery, tiny_weights, tmp_path):
    done = run_index(special_gallery, tmp_path / "idx", "--weights", str(tiny_weights), "--follow-outside-links")
    assert done.returncode == 0, done.stderr
    assert "indexed 4 images" in done.stdout
    assert "skipped z.png: a character device, not a regular file" in done.stdout
    manifest = Manifest.load(IndexPaths.in_dir(tmp_path / "idx").manifest)
    assert [f.path for f in manifest.indexed] == ["a.jpg", "in.jpg", "o.jpg", "sub/b.png"]


def test_a_link_to_dev_zero_is_not_read_even_when_links_are_followed(tmp_path, photos, tiny_weights):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    photos["coins"].resize((64, 64)).save(gallery / "a.jpg", format="JPEG")
    (gallery / "zero.png").symlink_to("/dev/zero")
    done = run_index(gallery, tmp_path / "idx", "--weights", str(tiny_weights), "--follow-outside-links")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped zero.png: a character device, not a regular file" in done.stdout


def test_a_skipped_link_is_indexed_once_the_option_is_given_and_dropped_without(tmp_path, photos, stats_model):
    gallery, outside = tmp_path / "gallery", tmp_path / "outside"
    gallery.mkdir()
    outside.mkdir()
    photos["astronaut"].resize((64, 64)).save(gallery / "a.jpg", format="JPEG")
    photos["camera"].resize((64, 64)).save(outside / "o.jpg", format="JPEG")
    (gallery / "o.jpg").symlink_to(outside / "o.jpg")
    paths = IndexPaths.in_dir(tmp_path / "idx")

    def indexed(**options) -> list[str]:
        build_index(gallery, stats_model, paths, progress=False, workers=1, **options)
        return [f.path for f in Manifest.load(paths.manifest).indexed]

    assert indexed() == ["a.jpg"]
    assert indexed(follow_outside_links=True) == ["a.jpg", "o.jpg"]  # the same size and mtime: looked at again
    assert indexed() == ["a.jpg"]
