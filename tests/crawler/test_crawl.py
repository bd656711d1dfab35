"""End-to-end crawls against the loopback image host: exact target, failures by reason, names, limits."""

from __future__ import annotations

import csv
from dataclasses import replace

from vistamatch.crawler import crawl, read_manifest
from vistamatch.crawler.run import LIST_EXHAUSTED, MAX_ATTEMPTS, TARGET_REACHED

from .helpers import TEST_FETCH, assert_valid_gallery, crawl_config, failure_mix, good_urls, shuffled_mix


def test_every_failure_is_counted_by_reason_when_the_list_runs_out(tmp_path, image_host):
    urls, images_in_list, expected_failures = shuffled_mix(image_host, good=12, seed=0)
    report = crawl(crawl_config(tmp_path, urls, target=100))

    assert report.stop_reason == LIST_EXHAUSTED
    assert report.attempted == len(urls)
    assert report.saved == images_in_list, report.failures
    assert report.failures == expected_failures
    images = assert_valid_gallery(tmp_path / "gallery")
    assert [p.stem for p in images] == [f"{n:06d}" for n in range(1, images_in_list + 1)]
    manifest = read_manifest(tmp_path / "gallery")
    assert sorted(manifest) == [p.name for p in images]
    assert set(manifest.values()) <= set(urls)


def test_retries_only_what_can_succeed_later(tmp_path, image_host):
    bad, _, _ = failure_mix(image_host)
    crawl(crawl_config(tmp_path, bad, target=100))
    tries = {path: len(image_host.requests_for(path)) for path in image_host.hits}
    assert tries["/status/404/0a"] == tries["/status/403/0"] == tries["/status/410/0"] == 1
    assert tries["/html-as-jpeg/0"] == tries["/truncated/0.jpg"] == tries["/huge/0.jpg"] == 1
    assert tries["/status/500/0"] == 2 == tries["/slow/0.jpg"]  # retries=1
    assert tries["/flaky/01.jpg"] == 2
    (first, status), (second, _) = image_host.requests_for("/ratelimit/0.jpg")
    assert status == 429 and second - first >= 0.95  # waited the server's Retry-After: 1


def test_stops_at_exactly_the_target_among_failures(tmp_path, image_host):
    urls, _, _ = shuffled_mix(image_host, good=60, seed=1)
    report = crawl(crawl_config(tmp_path, urls, target=15))
    assert report.stop_reason == TARGET_REACHED
    assert report.saved == 15 == len(assert_valid_gallery(tmp_path / "gallery"))


def test_never_has_more_downloads_in_flight_than_images_still_needed(tmp_path, image_host):
    image_host.delay_s = 0.05
    urls = good_urls(image_host, 60)
    report = crawl(crawl_config(tmp_path, urls, target=15, fetch=replace(TEST_FETCH, concurrency=32)))
    assert report.saved == 15
    assert report.attempted == 15
    assert image_host.served_images() == 15  # 32 slots, but only as many downloads as images wanted


def test_images_already_in_the_folder_count_and_names_continue(tmp_path, image_host):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    (gallery / "000002.jpg").write_bytes(image_host.photo_bytes(0, "jpg"))  # same bytes as the first URL
    (gallery / "000007.png").write_bytes(image_host.photo_bytes(99, "png"))
    (gallery / "mine.webp").write_bytes(image_host.photo_bytes(98, "webp"))
    report = crawl(crawl_config(tmp_path, good_urls(image_host, 10), target=8))
    assert report.existing == 3 and report.saved == 5
    assert report.failures == {"duplicate": 1}
    names = sorted(p.name for p in assert_valid_gallery(gallery))
    new = [n for n in names if n[:6].isdigit() and int(n[:6]) > 7]
    assert [n[:6] for n in new] == ["000008", "000009", "000010", "000011", "000012"]
    assert len(names) == 8


def test_does_nothing_when_the_folder_already_holds_the_target(tmp_path, image_host):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for i in range(3):
        (gallery / f"{i}.jpg").write_bytes(image_host.photo_bytes(i))
    report = crawl(crawl_config(tmp_path, good_urls(image_host, 5), target=3))
    assert report.stop_reason == TARGET_REACHED and report.attempted == 0
    assert not image_host.hits


def test_a_second_run_continues_where_max_attempts_stopped(tmp_path, image_host):
    urls, images_in_list, _ = shuffled_mix(image_host, good=20, seed=2)
    first = crawl(crawl_config(tmp_path, urls, target=100, max_attempts=15))
    assert first.stop_reason == MAX_ATTEMPTS and first.attempted == 15
    hits_after_first = dict(image_host.hits)
    second = crawl(crawl_config(tmp_path, urls, target=100))
    assert second.stop_reason == LIST_EXHAUSTED
    assert second.attempted == len(urls) - 15  # no finished row tried again
    assert first.saved + second.saved == images_in_list
    for path, hits in hits_after_first.items():
        assert image_host.hits[path] == hits, f"{path} was fetched again"
    images = assert_valid_gallery(tmp_path / "gallery")
    assert [int(p.stem) for p in images] == list(range(1, len(images) + 1))
    with open(tmp_path / "gallery" / "urls.csv", newline="") as f:
        listed = [row["file"] for row in csv.DictReader(f)]
    assert sorted(listed) == [p.name for p in images]


def test_limits_downloads_per_host_and_in_total(tmp_path, image_host):
    image_host.delay_s = 0.1
    urls = good_urls(image_host, 24)
    fetch = replace(TEST_FETCH, concurrency=8, per_host=3)
    crawl(crawl_config(tmp_path, urls, target=24, fetch=fetch))
    assert image_host.max_active == 3  # one host here: the per-host limit binds, and is reached

    image_host.max_active = 0
    fetch = replace(TEST_FETCH, concurrency=5, per_host=16)
    crawl(crawl_config(tmp_path / "again", good_urls(image_host, 24, start=100), target=24, fetch=fetch))
    assert image_host.max_active == 5


def test_max_side_shrinks_large_images_on_the_way_in(tmp_path, image_host):
    from PIL import Image

    from vistamatch.crawler import ImageRules

    urls = [image_host.url(f"/photo/{k}.jpg") for k in (1, 2)]  # 96 x 72
    rules = ImageRules(min_bytes=200, max_bytes=200_000, min_side=40, max_side=64)
    report = crawl(crawl_config(tmp_path, urls, target=2, rules=rules))
    assert report.saved == 2
    for path in assert_valid_gallery(tmp_path / "gallery"):
        with Image.open(path) as img:
            assert max(img.size) == 64


def test_a_retry_after_longer_than_allowed_gives_up_at_once(tmp_path, image_host):
    fetch = replace(TEST_FETCH, max_retry_after_s=0.5)  # the server asks for 1 s
    report = crawl(crawl_config(tmp_path, [image_host.url("/ratelimit/9.jpg")], target=1, fetch=fetch))
    assert report.failures == {"http_429": 1}
    assert len(image_host.requests_for("/ratelimit/9.jpg")) == 1


def test_progress_bar_shows_images_and_attempts(tmp_path, image_host, capsys):
    crawl(crawl_config(tmp_path, good_urls(image_host, 4) + [image_host.url("/status/404/p")], target=10,
                       progress=True))
    err = capsys.readouterr().err
    assert "images" in err and "4/10" in err and "attempted=5" in err and "failed=1" in err


def test_the_vistamatch_crawl_command(tmp_path, image_host, capsys):
    from vistamatch.cli import main

    from .helpers import TEST_FLAGS, write_csv

    source = write_csv(tmp_path / "list.csv", good_urls(image_host, 5))
    code = main(["crawl", "--csv", str(source), "--target", "3", "--save_dir", str(tmp_path / "g"), *TEST_FLAGS])
    out = capsys.readouterr().out
    assert code == 0
    assert "stopped: target reached (3 of 3 images" in out
    assert "attempted 3 URLs" in out and "images/s" in out
    assert len(assert_valid_gallery(tmp_path / "g")) == 3


def test_two_crawls_cannot_write_into_one_folder(tmp_path, image_host):
    import pytest
    from filelock import FileLock

    from vistamatch.errors import VistaMatchError

    config = crawl_config(tmp_path, good_urls(image_host, 2), target=2)
    (config.out_dir / ".crawl").mkdir(parents=True)
    with FileLock(str(config.out_dir / ".crawl" / "lock")):  # as a running crawl holds it
        with pytest.raises(VistaMatchError, match="another crawl is writing into"):
            crawl(config)
    assert crawl(config).saved == 2


def test_a_failed_write_stops_with_a_clear_error(tmp_path, image_host, monkeypatch):
    import pytest

    from vistamatch.crawler.writer import GalleryWriter
    from vistamatch.errors import VistaMatchError

    def disk_full(self, name, image, url):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(GalleryWriter, "write", disk_full)
    # one URL at a time: with several, any of the concurrent writes may be the one whose error surfaces
    with pytest.raises(VistaMatchError, match="cannot write .*000001.*No space left on device"):
        crawl(crawl_config(tmp_path, good_urls(image_host, 3), target=3, inflight=1))


def test_crawls_from_a_text_list_and_from_parquet(tmp_path, image_host):
    import pytest

    pa = pytest.importorskip("pyarrow", reason="Parquet input needs pyarrow")
    import pyarrow.parquet as pq

    urls = good_urls(image_host, 6) + [image_host.url("/status/404/t")]
    text = tmp_path / "list.txt"
    text.write_text("\n".join(urls) + "\n")
    parquet = tmp_path / "list.parquet"
    pq.write_table(pa.table({"caption": ["c"] * len(urls), "image_link": urls}), parquet, row_group_size=3)
    for source, out in ((text, "from_txt"), (parquet, "from_parquet")):
        report = crawl(crawl_config(tmp_path, [], source=source, out_dir=tmp_path / out, target=10))
        assert report.saved == 6 and report.failures == {"http_404": 1}
        assert len(assert_valid_gallery(tmp_path / out)) == 6


def test_reads_only_as_far_as_the_target_needs(tmp_path, image_host):
    import json

    urls = good_urls(image_host, 5) + [f"https://img.example.invalid/{i}.jpg" for i in range(200_000)]
    config = crawl_config(tmp_path, urls, target=3)
    report = crawl(config)
    assert report.saved == 3 and report.attempted == 3
    journal = next((config.out_dir / ".crawl").glob("*.jsonl"))
    marks = [json.loads(line) for line in journal.read_text().splitlines() if '"mark"' in line]
    assert marks[-1]["mark"] == 3  # resumes at row 3 ...
    assert marks[-1]["at"] < 1000 < config.source.stat().st_size  # ... a few hundred bytes into the list
