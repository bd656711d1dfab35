"""A URL list as the input of a Ray build, on a real local Ray instance (2 CPUs) downloading from a
loopback image host: the gallery gets the crawl's names and manifest, the index covers the saved
images with the local build's vectors, each content goes through a model once, and a rerun saves
nothing new. Skipped, with the reason, where Ray is not installed."""

from __future__ import annotations

import csv
import json
import shutil
import urllib.request
from collections import Counter
from urllib.parse import urlsplit

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'vistamatch[ray]'")

from crawler.helpers import TEST_FETCH, TEST_RULES, write_csv  # noqa: E402  (tests/ is on sys.path)
from crawler.imagehost import ImageHost  # noqa: E402

from vistamatch.errors import VistaMatchError  # noqa: E402
from vistamatch.index import IndexPaths, build_index  # noqa: E402
from vistamatch.index.manifest import Manifest  # noqa: E402
from vistamatch.index.ray_build import build_index_ray  # noqa: E402
from vistamatch.index.ray_crawl import UrlList  # noqa: E402
from vistamatch.index.scan import content_hash  # noqa: E402

from . import ray_faults  # noqa: E402
from .test_ray_build import arrays, faults, local_ray, no_faults, spec  # noqa: E402, F401  (the same Ray fixtures)


@pytest.fixture
def image_host(photos):
    host = ImageHost(photos).start()
    yield host
    host.stop()


def url_mix(host: ImageHost) -> list[str]:
    """4 distinct images among a 404, a web page, one URL twice and the same bytes at two URLs; in
    shards of 3, each pair in one shard (a content downloaded in two shards is embedded by both)."""
    u = host.url
    return [u("/photo/0.jpg"), u("/status/404/a"), u("/photo/0.jpg"), u("/photo/1.png"), u("/text/a"),
            u("/photo/2.webp"), u("/dup/1.jpg"), u("/dup/2.jpg")]  # fmt: skip


def manifest_rows(gallery) -> list[dict]:
    with open(gallery / "urls.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_a_url_list_fills_the_gallery_and_the_index_in_one_pass(local_ray, faults, image_host, photo_gallery, spec, tmp_path):
    gallery, paths = tmp_path / "gallery", IndexPaths.in_dir(tmp_path / "idx")
    gallery.mkdir()
    shutil.copy(photo_gallery / "astronaut.jpg", gallery / "astronaut.jpg")  # a file already there: indexed too
    urls = UrlList(write_csv(tmp_path / "list.csv", url_mix(image_host)), fetch=TEST_FETCH, rules=TEST_RULES)
    report = build_index_ray(gallery, spec, paths, urls=urls, shard_urls=3, shard_files=2, progress=False)

    crawl = report.crawl
    assert (crawl.attempted, crawl.saved, crawl.existing) == (8, 4, 1)
    assert crawl.failures == Counter(http_404=1, not_image=1, duplicate=2)
    rows = manifest_rows(gallery)
    names = sorted(r["file"] for r in rows)
    assert [n.split(".")[0] for n in names] == ["000001", "000002", "000003", "000004"]
    assert sorted(n.split(".")[1] for n in names) == ["jpg", "jpg", "png", "webp"]
    for r in rows:  # each file is its URL's bytes, listed with their sha256, as `vistamatch crawl` writes it
        with urllib.request.urlopen(r["url"]) as resp:
            assert (gallery / r["file"]).read_bytes() == resp.read()
    assert sorted(p.name for p in gallery.iterdir() if not p.name.startswith(".")) == sorted([*names, "astronaut.jpg", "urls.csv"])

    local = IndexPaths.in_dir(tmp_path / "local")
    build_index(gallery, spec.load(), local, progress=False)
    (f_local, m_local), (f_ray, m_ray) = arrays(local), arrays(paths)
    assert m_ray.tolist() == m_local.tolist() == sorted(["astronaut.jpg", *names])
    np.testing.assert_allclose(f_ray, f_local, atol=1e-5)
    assert Manifest.load(paths.manifest).files == Manifest.load(local.manifest).files

    contents = {content_hash(p.read_bytes()) for p in gallery.iterdir() if p.suffix != ".csv" and p.is_file()}
    model = Counter(ray_faults.model_inputs(faults))
    assert set(model) == contents and set(model.values()) == {1}  # each content through a model once
    assert (report.embedded, report.reused, report.resumed, report.total) == (5, 0, 0, 5)
    assert not paths.checkpoint_dir.exists() and not paths.shards_dir.exists()

    again = build_index_ray(gallery, spec, paths, urls=urls, shard_urls=3, progress=False)
    assert (again.crawl.attempted, again.crawl.saved) == (0, 0)  # the journal's mark: every row finished
    assert manifest_rows(gallery) == rows and again.embedded == 0 and not again.written
    assert Counter(ray_faults.model_inputs(faults)) == model


def test_a_pass_stopped_by_a_lost_actor_resumes_without_fetching_or_embedding_finished_rows_again(
    local_ray, faults, image_host, spec, tmp_path
):
    gallery, paths = tmp_path / "gallery", IndexPaths.in_dir(tmp_path / "idx")
    urls = UrlList(write_csv(tmp_path / "list.csv", url_mix(image_host)), fetch=TEST_FETCH, rules=TEST_RULES)
    (faults / "crash-urls").write_text("/dup/")  # the last shard kills its actor; no restarts: the pass stops
    with pytest.raises(VistaMatchError, match="the Ray build stopped"):
        build_index_ray(gallery, spec, paths, urls=urls, shard_urls=3, restarts=0, progress=False)
    assert not paths.features.exists()
    (journal,) = (gallery / ".crawl").glob("*.jsonl")
    finished = [r for r in map(json.loads, journal.read_text().splitlines()) if "row" in r]
    first = manifest_rows(gallery)
    assert len(finished) <= 6 and 1 <= len(first) == sum(r["outcome"] == "saved" for r in finished)
    first_contents = {content_hash((gallery / r["file"]).read_bytes()) for r in first}
    hits = Counter(image_host.hits)

    (faults / "crash-urls").unlink()
    report = build_index_ray(gallery, spec, paths, urls=urls, shard_urls=3, progress=False)
    assert report.crawl.attempted == 8 - len(finished) and report.crawl.saved == 4 - len(first)
    rows = manifest_rows(gallery)
    assert rows[: len(first)] == first and sorted(r["file"].split(".")[0] for r in rows) == ["000001", "000002", "000003", "000004"]
    for r in finished:  # not downloaded again
        assert image_host.hits[urlsplit(r["url"]).path] == hits[urlsplit(r["url"]).path]
    local = IndexPaths.in_dir(tmp_path / "local")
    build_index(gallery, spec.load(), local, progress=False)
    (f_local, m_local), (f_ray, m_ray) = arrays(local), arrays(paths)
    assert m_ray.tolist() == m_local.tolist() == sorted(r["file"] for r in rows)
    np.testing.assert_allclose(f_ray, f_local, atol=1e-5)
    model = Counter(ray_faults.model_inputs(faults))  # a shard done but not taken by the driver is embedded again
    assert len(model) == 4 and all(model[h] == 1 for h in first_contents)  # the saved ones' vectors: from the checkpoint
    assert (report.resumed, report.embedded, report.reused) == (len(first), 4 - len(first), len(first))  # reused: resumed work


def test_vistamatch_index_urls_on_ray_prints_the_crawl_then_the_index(local_ray, image_host, spec, tmp_path, capsys):
    from vistamatch.cli import main

    listed = tmp_path / "list.txt"
    listed.write_text("\n".join([image_host.url("/photo/3.jpg"), image_host.url("/status/404/b"), image_host.url("/photo/4.png")]) + "\n")
    gallery = tmp_path / "new-gallery"  # made by the command
    argv = ["index", str(gallery), "--weights", str(spec.weights), "--executor", "ray", "--urls", str(listed), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"URL list {listed}: tried 3 URLs, saved 2 into {gallery} (+0 already there), failed 1 (http_404 1)" in out
    assert "indexed 2 images" in out and "embedded 2" in out
    assert sorted(p.name for p in gallery.iterdir()) == [".crawl", ".vistamatch", "000001.jpg", "000002.png", "urls.csv"]
