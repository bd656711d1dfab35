"""open_regular / read_regular: regular files only, never blocking, never more than the size cap."""

import os
import tracemalloc

import pytest

from vistamatch.regular_files import MB, RefusedFile, max_file_bytes, open_regular, read_regular


@pytest.mark.parametrize(
    ("name", "kind"),
    [("x.jpg", "a FIFO"), ("s.jpg", "a socket"), ("z.png", "a character device"), ("sub", "a directory")],
)
def test_what_is_not_a_regular_file_is_refused_without_blocking(special_gallery, within, name, kind):
    for reader in (open_regular, read_regular):
        with pytest.raises(RefusedFile) as caught:
            within(10, reader, special_gallery / name)
        assert caught.value.reason == f"{kind}, not a regular file"
        assert str(caught.value) == f"{special_gallery / name}: {kind}, not a regular file"


def test_a_regular_file_and_a_link_to_one_are_read(special_gallery):
    data = (special_gallery / "a.jpg").read_bytes()
    assert read_regular(special_gallery / "a.jpg") == read_regular(special_gallery / "in.jpg") == data
    with open_regular(special_gallery / "a.jpg") as f:
        assert f.read() == data
    with pytest.raises(FileNotFoundError):
        read_regular(special_gallery / "d.jpg")  # dangling: OSError passes through


def test_a_file_over_the_cap_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 * MB)  # a sparse 2 GiB file: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(RefusedFile, match=r"file too large \(2048.0 MiB, limit 384 MiB"):
            read_regular(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MB
    with pytest.raises(RefusedFile, match="limit 1 MiB"):
        open_regular(big, cap=MB)


def test_a_file_that_reads_longer_than_its_size_is_cut_at_the_cap():
    # /proc files are regular files of size 0 with content: the stat check passes, the read must not.
    with pytest.raises(RefusedFile, match="grew past the limit"):
        read_regular("/proc/self/status", cap=100)
    assert read_regular("/proc/self/status").startswith(b"Name:")


def test_the_cap_comes_from_the_environment(monkeypatch, tmp_path):
    assert max_file_bytes() == 384 * MB
    monkeypatch.setenv("VISTAMATCH_MAX_FILE_MB", "0.5")
    assert max_file_bytes() == MB // 2
    (tmp_path / "a.bin").write_bytes(b"x" * (MB // 2 + 1))
    with pytest.raises(RefusedFile, match="VISTAMATCH_MAX_FILE_MB"):
        read_regular(tmp_path / "a.bin")
    (tmp_path / "a.bin").write_bytes(b"x" * (MB // 2))
    assert len(read_regular(tmp_path / "a.bin")) == MB // 2


def test_the_descriptor_is_blocking_after_the_check(special_gallery):
    with open_regular(special_gallery / "a.jpg") as f:
        assert os.get_blocking(f.fileno())
