"""The crawler as a process: kill -9 and Ctrl-C then resume, the original wrapper's flags, constant memory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import TEST_FLAGS, assert_valid_gallery, good_urls, shuffled_mix, write_csv

REPO = Path(__file__).resolve().parents[2]
CRAWL = [sys.executable, "-m", "vistamatch.cli.crawl"]


def numbered_images(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.stem.isdigit() and not p.name.startswith("."))


def wait_for_images(folder: Path, count: int, proc: subprocess.Popen, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while len(numbered_images(folder)) < count:
        assert proc.poll() is None, "the crawler ended before it could be interrupted"
        assert time.monotonic() < deadline, "the crawler made no progress"
        time.sleep(0.02)


def journaled_urls(gallery: Path) -> set[str]:
    urls = set()
    for journal in (gallery / ".crawl").glob("*.jsonl"):
        for line in journal.read_text().splitlines():
            record = json.loads(line)
            if "row" in record:
                urls.add(record["url"])
    return urls


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def mixed_list(tmp_path: Path, host, good: int, seed: int) -> tuple[Path, list[str]]:
    urls, _, _ = shuffled_mix(host, good, seed)
    return write_csv(tmp_path / "urls.csv", urls), urls


def run_to_end(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_resume_after_the_process_is_stopped(tmp_path, image_host, stop):
    image_host.delay_s = 0.05
    # the target is far enough beyond the 12 images awaited that the crawl cannot finish before the
    # signal lands, even when this process is slow to notice the 12th (a busy CI machine)
    target = 120
    source, urls = mixed_list(tmp_path, image_host, good=150, seed=3)
    gallery = tmp_path / "gallery"
    args = [*CRAWL, "--csv", str(source), "--out", str(gallery), "--target", str(target), "--workers", "6", *TEST_FLAGS]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_images(gallery, 12, proc)
    proc.send_signal(stop)
    out, _ = proc.communicate(timeout=30)
    if stop == signal.SIGINT:
        assert proc.returncode == 130
        assert "stopped: interrupted" in out
    else:
        assert proc.returncode == -signal.SIGKILL

    # right after the stop: every visible file is a whole image (temp files are hidden, cleaned next run)
    before = {p.name: p.read_bytes() for p in numbered_images(gallery)}
    assert not [p.name for p in gallery.iterdir() if p.name.endswith(".tmp") and not p.name.startswith(".")]
    assert len(assert_valid_gallery_visible(gallery)) == len(before) < target
    finished = journaled_urls(gallery)
    assert finished, "the journal recorded the finished rows"
    hits_at_stop = dict(image_host.hits)

    second = run_to_end(args)
    assert second.returncode == 0, second.stderr
    assert "stopped: target reached" in second.stdout
    images = assert_valid_gallery(gallery)
    assert len(images) == target
    for url in finished:  # no finished row was tried again
        assert image_host.hits.get(path_of(url), 0) == hits_at_stop.get(path_of(url), 0), url
    for name, data in before.items():  # no name reused, no file overwritten
        assert (gallery / name).read_bytes() == data
    manifest_files = [line.split(",")[0] for line in (gallery / "urls.csv").read_text().splitlines()[1:]]
    assert sorted(manifest_files) == [p.name for p in images]


def assert_valid_gallery_visible(folder: Path) -> list[Path]:
    """Like assert_valid_gallery, but hidden temp files (a kill -9 inside a write) are allowed."""
    from PIL import Image

    images = numbered_images(folder)
    for path in images:
        with Image.open(path) as img:
            img.load()
    return images


def test_the_original_script_and_its_flags_still_work(tmp_path, image_host):
    source, _ = mixed_list(tmp_path, image_host, good=20, seed=4)
    gallery = tmp_path / "gallery_images"
    result = run_to_end([
        sys.executable, str(REPO / "download_gallery_success_target_fixed.py"),
        "--csv", str(source), "--col", "image_url", "--target", "12", "--save_dir", str(gallery),
        "--workers", "8", "--timeout", "1.5", "--retries", "1", "--max_attempts", "100",
        "--check_content_type", "1", "--inflight", "16", "--chunksize", "1000", "--encoding", "utf-8",
        "--min-bytes", "200", "--min-side", "40", "--max-bytes", "200000", "--no-progress",
    ])
    assert result.returncode == 0, result.stderr
    assert len(assert_valid_gallery(gallery)) == 12
    assert "stopped: target reached (12 of 12 images" in result.stdout


def test_max_attempts_and_a_short_list_say_why_they_stopped(tmp_path, image_host):
    source, urls = mixed_list(tmp_path, image_host, good=5, seed=5)
    gallery = tmp_path / "g"
    base = [*CRAWL, "--csv", str(source), "--out", str(gallery), "--target", "50", *TEST_FLAGS]
    first = run_to_end([*base, "--max-attempts", "4"])
    assert first.returncode == 1
    assert "stopped: max attempts reached" in first.stdout and "attempted 4 URLs" in first.stdout
    second = run_to_end(base)
    assert second.returncode == 1
    assert "stopped: the URL list ran out" in second.stdout
    assert f"attempted {len(urls) - 4} URLs" in second.stdout
    assert "skipped" not in second.stdout  # resumed after the 4 rows by position, not by re-reading them
    assert len(assert_valid_gallery(gallery)) == 5 + 6  # every image the list holds (see failure_mix)


def test_user_errors_are_one_line(tmp_path):
    result = run_to_end([*CRAWL, "--csv", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "g")])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: URL list not found: {tmp_path / 'missing.csv'}"]
    assert not (tmp_path / "g").exists()  # nothing written on bad input


# Runs the crawl, then reports the process's own peak resident memory (VmHWM: this process image only;
# getrusage's maxrss would also hold the test process's peak, inherited through fork).
MEASURED_CRAWL = (
    "import sys; from vistamatch.cli.crawl import main; code = main(sys.argv[1:]); "
    "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0], file=sys.stderr); "
    "sys.exit(code)"
)


def peak_rss_mib(args: list[str]) -> float:
    result = run_to_end([sys.executable, "-c", MEASURED_CRAWL, *args])
    assert result.returncode == 0, result.stdout + result.stderr
    return int(result.stderr.split("VmHWM:")[1].split()[0]) / 1024  # reported in kB


def test_constant_memory_on_a_multi_million_row_list(tmp_path, image_host):
    """3 million rows, URLs only in the last few: the whole file streams through, memory stays flat."""
    rows, block_rows = 3_000_000, 10_000
    caption = "a caption long enough to make this row look like a real row of an image-text dataset"
    filler = "".join(f"{i},{caption},\n" for i in range(block_rows)).encode()
    tail = "".join(f"{i},the last rows,{u}\n" for i, u in enumerate(good_urls(image_host, 20))).encode()
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_bytes(b"id,caption,url\n" + tail)
    with open(big, "wb") as f:
        f.write(b"id,caption,url\n")
        for _ in range(rows // block_rows):
            f.write(filler)
        f.write(tail)
    size_mib = big.stat().st_size / 2**20

    def crawl_args(source: Path, out: str) -> list[str]:
        return ["--csv", str(source), "--col", "url", "--target", "10", "--out", str(tmp_path / out), *TEST_FLAGS]

    small_peak = peak_rss_mib(crawl_args(small, "g1"))
    big_peak = peak_rss_mib(crawl_args(big, "g2"))
    assert len(assert_valid_gallery(tmp_path / "g2")) == 10
    print(f"\npeak RSS {big_peak:.0f} MiB streaming {rows + 20:,} rows ({size_mib:.0f} MiB); "
          f"{small_peak:.0f} MiB for the same crawl from a 20-row list")
    assert big_peak - small_peak < 25
    assert big_peak < size_mib / 2
