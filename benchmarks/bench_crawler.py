"""Crawler throughput: ours (asyncio + aiohttp) against the original approach (12 threads, blocking requests).

A local asyncio server (uvicorn + Starlette, in its own process, on four loopback addresses so there
are four "hosts") serves thousands of small distinct JPEGs with a 100-500 ms delay per response, as on
the internet, and a realistic mix of failures: 404/403/410, 500 (some recover), 429 with Retry-After,
stalled bodies, redirects, web pages, HTML labelled image/jpeg, truncated and tiny images, duplicates,
refused connections. Both crawlers read the same CSV and must save exactly --target valid images.

    python benchmarks/bench_crawler.py                 # target 1000
    python benchmarks/bench_crawler.py --target 400    # quicker
Prints images/s of each and the ratio (goal: ours >= 3x).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
TIMEOUT_S = 3.0
RETRIES = 1
BASELINE_WORKERS = 12
# (route, share of the list): what a web image dataset looks like after a few years
MIX = [("img", 55), ("404", 12), ("403", 4), ("410", 2), ("500once", 3), ("500", 2), ("429once", 2), ("slow", 1),
       ("redirect", 4), ("page", 4), ("htmljpeg", 2), ("truncated", 2), ("tiny", 3), ("dup", 3), ("refused", 1)]


# ---------------------------------------------------------------- the server (child process)

def serve(port: int) -> None:
    import asyncio

    import numpy as np
    import uvicorn
    from PIL import Image
    from skimage import data
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    photos = [np.asarray(Image.fromarray(getattr(data, n)()).convert("RGB"))
              for n in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")]
    cache: dict[int, bytes] = {}
    seen: Counter = Counter()

    def jpeg(i: int, side: int = 128) -> bytes:
        """A distinct small JPEG for each i: a shifted crop with i written into the top edge."""
        if i not in cache:
            base = photos[i % len(photos)]
            s = (i // len(photos)) % 60
            img = Image.fromarray(base[s: s + 240, s: s + 240]).resize((side, side * 3 // 4))
            px = np.array(img)
            bits = np.repeat(((i >> np.arange(24)) & 1) * 255, 2)[: px.shape[1]]
            px[:2, : len(bits)] = bits[None, :, None].astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(px).save(buf, format="JPEG", quality=85)
            cache[i] = buf.getvalue()
        return cache[i]

    async def handle(request):
        route, key = request.path_params["route"], request.path_params["key"]
        path = request.url.path
        first = seen[path] == 0
        seen[path] += 1
        await asyncio.sleep(0.1 + 0.4 * (zlib.crc32(f"{path}{seen[path]}".encode()) % 1000) / 1000)
        i = int(key.split(".")[0])
        if route == "img":
            return Response(jpeg(i), media_type="image/jpeg")
        if route in ("404", "403", "410", "500"):
            return Response(b"no", status_code=int(route))
        if route == "500once":
            return Response(b"busy", status_code=500) if first else Response(jpeg(i), media_type="image/jpeg")
        if route == "429once":
            if first:
                return Response(b"slow down", status_code=429, headers={"Retry-After": "1"})
            return Response(jpeg(i), media_type="image/jpeg")
        if route == "slow":
            await asyncio.sleep(TIMEOUT_S * 3)
            return Response(jpeg(i), media_type="image/jpeg")
        if route == "redirect":
            return Response(b"", status_code=302, headers={"Location": f"/img/{i}.jpg"})
        if route == "page":
            return Response(b"<html>" + b"a page " * 300 + b"</html>", media_type="text/html")
        if route == "htmljpeg":
            return Response(b"<html>" + b"a page " * 300 + b"</html>", media_type="image/jpeg")
        if route == "truncated":
            body = jpeg(i, side=256)
            return Response(body[: len(body) // 2], media_type="image/jpeg")
        if route == "tiny":
            return Response(jpeg(i, side=32), media_type="image/jpeg")
        if route == "dup":
            return Response(jpeg(0), media_type="image/jpeg")
        return Response(b"?", status_code=404)

    app = Starlette(routes=[Route("/{route}/{key}", handle)])
    sockets = []
    for host in HOSTS:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sockets.append(sock)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=2048)
    uvicorn.Server(config).run(sockets=sockets)


def start_server() -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOSTS[-1], port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("benchmark server did not start")


def write_url_list(path: Path, port: int, rows: int, seed: int = 0) -> None:
    routes = [route for route, share in MIX for _ in range(share)]
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "caption", "image_url"])
        for i in range(rows):
            route = rng.choice(routes)
            host = HOSTS[i % len(HOSTS)]
            url = f"http://127.0.0.1:9/{i}.jpg" if route == "refused" else f"http://{host}:{port}/{route}/{i + 1}.jpg"
            writer.writerow([i, f"photo {i}", url])


# ---------------------------------------------------------------- the original approach (baseline)

def baseline_crawl(csv_path: Path, out_dir: Path, target: int) -> tuple[int, Counter]:
    """A pool of 12 threads doing blocking GETs, submitting until `target` images are saved."""
    import httpx
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    client = httpx.Client(timeout=TIMEOUT_S, follow_redirects=True,
                          limits=httpx.Limits(max_connections=BASELINE_WORKERS * 2))
    outcomes: Counter = Counter()

    def download(url: str):
        for attempt in range(RETRIES + 1):
            try:
                r = client.get(url)
            except httpx.HTTPError:
                reason = "error"
            else:
                if r.status_code == 200:
                    if not r.headers.get("content-type", "").startswith("image/"):
                        return None, "not_image"
                    try:
                        img = Image.open(io.BytesIO(r.content))
                        img.load()
                    except Exception:
                        return None, "not_image"
                    if min(img.size) < 64:
                        return None, "too_small"
                    return r.content, "ok"
                reason = f"http_{r.status_code}"
                if r.status_code not in (429, 500, 502, 503, 504):
                    return None, reason
            if attempt < RETRIES:
                time.sleep(0.5 * 2**attempt)
        return None, reason

    hashes: set[str] = set()
    saved = 0
    with open(csv_path, newline="") as f, ThreadPoolExecutor(BASELINE_WORKERS) as pool:
        urls = (row["image_url"] for row in csv.DictReader(f))
        pending = set()
        while saved < target:
            while len(pending) < BASELINE_WORKERS * 2 and (url := next(urls, None)) is not None:
                pending.add(pool.submit(download, url))
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                body, reason = future.result()
                digest = body and hashlib.sha256(body).hexdigest()
                if body is None or digest in hashes or saved >= target:
                    outcomes[reason if body is None else "duplicate" if digest in hashes else "surplus"] += 1
                    continue
                hashes.add(digest)
                saved += 1
                (out_dir / f"{saved:06d}.jpg").write_bytes(body)
        for future in pending:
            future.cancel()
    client.close()
    return saved, outcomes


# ---------------------------------------------------------------- ours

def our_crawl(csv_path: Path, out_dir: Path, target: int, concurrency: int):
    from vistamatch.crawler import CrawlConfig, FetchSettings, crawl

    fetch = FetchSettings(concurrency=concurrency, per_host=16, timeout_s=TIMEOUT_S, retries=RETRIES)
    return crawl(CrawlConfig(source=csv_path, out_dir=out_dir, target=target, column="image_url", fetch=fetch,
                             progress=False))


def check_gallery(folder: Path) -> int:
    """Number of valid, distinct images; raises if any file is broken or repeated."""
    from PIL import Image

    hashes = set()
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".csv"]
    for path in files:
        with Image.open(path) as img:
            img.load()
        hashes.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(hashes) == len(files), f"{folder}: duplicate images"
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=5000, help="URLs in the list")
    parser.add_argument("--concurrency", type=int, default=64, help="ours: downloads at once")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # child process: run the server
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    server, port = start_server()
    work = Path(tempfile.mkdtemp(prefix="bench-crawler-"))
    try:
        csv_path = work / "urls.csv"
        write_url_list(csv_path, port, args.rows)
        print(f"{args.rows} URLs, mix {dict(MIX)} (%), delay 100-500 ms per response, target {args.target}")

        started = time.perf_counter()
        base_saved, base_outcomes = baseline_crawl(csv_path, work / "baseline", args.target)
        base_s = time.perf_counter() - started
        base_valid = check_gallery(work / "baseline")
        base_outcomes.pop("ok", None)

        server.kill()  # a fresh server: every 'first request fails' route fails again for ours
        server.wait()
        server, port2 = start_server()
        write_url_list(csv_path, port2, args.rows)
        started = time.perf_counter()
        report = our_crawl(csv_path, work / "ours", args.target, args.concurrency)
        ours_s = time.perf_counter() - started
        ours_valid = check_gallery(work / "ours")

        base_rate, ours_rate = base_saved / base_s, report.saved / ours_s
        print(f"baseline ({BASELINE_WORKERS} threads, blocking httpx): saved {base_saved} (valid {base_valid}) "
              f"in {base_s:.1f} s = {base_rate:.1f} images/s; failures {dict(base_outcomes.most_common())}")
        print(f"ours (asyncio, {args.concurrency} at once, 16 per host): saved {report.saved} (valid {ours_valid}) "
              f"in {ours_s:.1f} s = {ours_rate:.1f} images/s; attempted {report.attempted}, requests "
              f"{report.requests}; failures {dict(report.failures.most_common())}")
        print(f"ratio ours / baseline: {ours_rate / base_rate:.2f}x (goal >= 3x)")
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
