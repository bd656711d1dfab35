"""Helpers for the crawler tests: URL lists, short-limit configs, the standard mix of failures."""

from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

from PIL import Image

from vistamatch.crawler import CrawlConfig, FetchSettings, ImageRules

from .imagehost import ImageHost

# Short limits so failures are quick; max_bytes sits below imagehost.HUGE_BYTES.
TEST_FETCH = FetchSettings(concurrency=16, per_host=16, timeout_s=1.5, connect_timeout_s=0.5, retries=1,
                           backoff_s=0.05, max_bytes=200_000)
TEST_RULES = ImageRules(min_bytes=200, max_bytes=200_000, min_side=40)
# the same limits as command-line flags
TEST_FLAGS = ["--timeout", "1.5", "--connect-timeout", "0.5", "--retries", "1", "--backoff", "0.05",
              "--max-bytes", "200000", "--min-bytes", "200", "--min-side", "40", "--no-progress"]


def write_csv(path: Path, urls: list[str], column: str = "image_url", encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "caption", column])
        for i, url in enumerate(urls):
            writer.writerow([i, f"caption {i}", url])
    return path


def crawl_config(tmp_path: Path, urls: list[str], **overrides) -> CrawlConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = write_csv(tmp_path / "urls.csv", urls)
    config = CrawlConfig(source=source, out_dir=tmp_path / "gallery", fetch=TEST_FETCH, rules=TEST_RULES,
                         progress=False)
    return replace(config, **overrides)


def good_urls(host: ImageHost, count: int, start: int = 0) -> list[str]:
    """Distinct photos in turn as JPEG, PNG, WebP and GIF."""
    exts = ("jpg", "png", "webp", "gif")
    return [host.url(f"/photo/{i}.{exts[i % 4]}") for i in range(start, start + count)]


def failure_mix(host: ImageHost, k: int = 0) -> tuple[list[str], int, Counter]:
    """URLs of every kind of trouble: (urls, images they yield, failures by reason). ``k`` keeps paths unique."""
    u = host.url
    urls = [
        u(f"/status/404/{k}a"), u(f"/status/404/{k}b"), u(f"/status/403/{k}"), u(f"/status/410/{k}"),
        u(f"/status/500/{k}"),                              # 500 every time: given up after the retry
        u(f"/flaky/{k}1.jpg"), u(f"/flaky/{k}2.jpg"),       # 500 then 200: saved
        u(f"/ratelimit/{k}.jpg"),                           # 429 + Retry-After then 200: saved
        u(f"/slow/{k}.jpg"),                                # body stalls past the timeout
        u(f"/redirect/{k}1.jpg"), u(f"/redirect/{k}2.jpg"),  # 301 and 302 to a photo: saved
        u(f"/html-as-jpeg/{k}"), u(f"/text/{k}"),
        u(f"/truncated/{k}.jpg"), u(f"/tiny/{k}.png"),
        u(f"/huge/{k}.jpg"), u(f"/huge-chunked/{k}.jpg"),
        u(f"/dup/{k}1.jpg"), u(f"/dup/{k}2.jpg"), u(f"/dup/{k}3.jpg"),  # one image, kept once
        "ftp://example.invalid/x.jpg",
        "http://127.0.0.1:9/refused.jpg",                  # discard port: connection refused
    ]
    failures = Counter(http_404=2, http_403=1, http_410=1, http_500=1, timeout=1, not_image=2, corrupt=1,
                       too_small=1, too_big=2, duplicate=2, invalid_url=1, connection=1)
    return urls, 6, failures


def shuffled_mix(host: ImageHost, good: int, seed: int) -> tuple[list[str], int, Counter]:
    """``good`` photos and the failure mix in a fixed random order: (urls, images they yield, failures)."""
    bad, bad_images, failures = failure_mix(host)
    urls = good_urls(host, good) + bad
    random.Random(seed).shuffle(urls)
    return urls, good + bad_images, failures


def assert_valid_gallery(folder: Path) -> list[Path]:
    """Every visible file is a complete image (or the manifest); no temp files. Returns the images."""
    images = []
    for path in folder.iterdir():
        assert not path.name.endswith(".tmp"), f"partial file left: {path.name}"
        if path.name.startswith(".") or path.name == "urls.csv":
            continue
        with Image.open(path) as img:
            img.load()
            assert path.suffix == {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}[img.format]
        images.append(path)
    return sorted(images)
