"""`vistamatch index` counts that add up to the files seen; `vistamatch crawl` fails when short of --target."""

import shutil

import pytest

from .helpers import run_cli as run

CRAWL_FLAGS = ["--timeout", "1.5", "--connect-timeout", "0.5", "--retries", "0", "--min-bytes", "200",
               "--min-side", "40", "--no-progress"]


def counts_line(out: str) -> str:
    return out.splitlines()[1].strip()


def test_index_counts_each_file_once(photo_gallery, tiny_weights, capsys, tmp_path):
    gallery = tmp_path / "g"
    gallery.mkdir()
    for name in ("astronaut.jpg", "chelsea.png", "coffee.webp"):
        shutil.copy(next(photo_gallery.rglob(name)), gallery / name)
    (gallery / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    opts = ["--weights", tiny_weights, "--features", tmp_path / "f.npy", "--mapping", tmp_path / "m.npy", "--quiet"]
    code, out, _ = run(capsys, "index", gallery, *opts)
    assert code == 0 and counts_line(out) == "new 3, changed 0, unchanged 0, skipped 1 (= 4 files seen); removed 0"

    (gallery / "coffee.webp").unlink()  # removed
    shutil.copy(next(photo_gallery.rglob("rocket.*")), gallery / "chelsea.png")  # changed (other bytes)
    shutil.copy(next(photo_gallery.rglob("camera.*")), gallery / "camera.jpg")  # new
    (gallery / "broken2.jpg").write_bytes(b"GIF89a not really")  # new, but skipped: counted once, as skipped
    code, out, _ = run(capsys, "index", gallery, *opts)
    assert code == 0 and out.startswith("indexed 3 images")
    assert counts_line(out) == "new 1, changed 1, unchanged 1, skipped 2 (= 5 files seen); removed 1"

    (gallery / "astronaut.jpg").write_bytes(b"now broken")  # indexed before, skipped now
    code, out, _ = run(capsys, "index", gallery, *opts)
    assert counts_line(out) == "new 0, changed 0, unchanged 2, skipped 3 (= 5 files seen); removed 0"


def test_cluster_options_without_executor_ray_are_refused(tiny_weights, capsys, tmp_path):
    opts = ["--weights", tiny_weights, "--features", tmp_path / "f.npy", "--quiet"]
    (tmp_path / "list.txt").write_text("http://127.0.0.1:9/a.jpg\n")
    for extra in (["--address", "auto"], ["--shard-files", "10"], ["--urls", tmp_path / "list.txt"]):
        code, _, err = run(capsys, "index", tmp_path / "new-gallery", *opts, *extra)
        assert (code, err) == (2, "error: --address, --shard-files and --urls are for --executor ray\n")
    assert not (tmp_path / "f.npy").exists() and not (tmp_path / "new-gallery").exists()


def test_crawl_short_of_the_target_exits_nonzero(image_host, capsys, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join([image_host.url("/photo/1.jpg"), image_host.url("/photo/2.png"), image_host.url("/status/404/0")]))
    gallery = tmp_path / "g"
    code, out, err = run(capsys, "crawl", "--csv", urls, "--out", gallery, "--target", "5", *CRAWL_FLAGS)
    assert code == 1 and "stopped: the URL list ran out (2 of 5 images" in out
    assert err == "error: target not reached: 2 of 5 images (the URL list ran out)\n"
    code, out, err = run(capsys, "crawl", "--csv", urls, "--out", gallery, "--target", "2", *CRAWL_FLAGS)
    assert code == 0 and err == "" and "stopped: target reached (2 of 2 images" in out


def test_decode_processes_build_the_same_index_and_are_refused_for_ray(photo_gallery, tiny_weights, capsys, tmp_path):
    import numpy as np

    indexes = []
    for n in ("0", "2"):
        opts = ["--weights", tiny_weights, "--features", tmp_path / f"f{n}.npy", "--mapping", tmp_path / f"m{n}.npy", "--quiet"]
        code, out, _ = run(capsys, "index", photo_gallery, *opts, "--decode-processes", n)
        assert code == 0, out
        indexes.append((np.load(tmp_path / f"f{n}.npy"), np.load(tmp_path / f"m{n}.npy").tolist()))
    assert indexes[0][1] == indexes[1][1]
    np.testing.assert_array_equal(indexes[0][0], indexes[1][0])
    code, _, err = run(capsys, "index", photo_gallery, "--executor", "ray", "--decode-processes", "2", "--weights", tiny_weights,
                       "--features", tmp_path / "r.npy", "--quiet")
    assert (code, err) == (2, "error: --decode-processes is for --executor local (Ray actors decode in their threads)\n")
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "index", photo_gallery, "--decode-processes", "-1", "--features", tmp_path / "x.npy")
    assert exit_.value.code == 2 and "must be at least 0, got -1" in capsys.readouterr().err
