"""A live gallery: how soon a dropped file is found, and what a background update costs a search.

Runs `vistamatch serve --gallery G` in its own process (watching G, default settings: 1 s debounce),
on a gallery of noise images and DINOv2 with random weights (the real architecture, so the real
cost). Then, in one run:
  arrival  - a file is written into G; the time until a search with that very image finds it
             (score 1.0) is measured, one file at a time: median over --files files
  idle     - POST /api/search latency with nothing else running
  busy     - the same searches while the server embeds a burst of --burst new files in the background
The idle and busy searches alternate (idle, busy, idle) so machine noise hits both alike.

    python benchmarks/bench_live.py                    # ViT-S/14, 100 images, 20 arrivals, burst 40
    python benchmarks/bench_live.py --model base --burst 20
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import MODELS, make_weights  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def noise_png(seed: int, size: int = 256) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def index_state(client: httpx.Client) -> dict:
    return client.get("/api/index").json()


def search(client: httpx.Client, data: bytes) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.post("/api/search", files={"image": ("q.png", data, "image/png")}, params={"topk": 5})
    r.raise_for_status()
    return time.perf_counter() - t0, r.json()


def found(body: dict, name: str) -> bool:
    top = body["tiers"][0]["items"][0]
    return top["filename"] == name and top["score"] > 0.9999


def wait_state(client: httpx.Client, state: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while index_state(client)["state"] != state:
        if time.monotonic() > deadline:
            raise SystemExit(f"the server did not reach state {state!r}")
        time.sleep(0.1)


def arrival_seconds(client: httpx.Client, gallery: Path, seed: int) -> float:
    """Write one file; seconds until a search with it finds it."""
    data, name = noise_png(seed), f"arrival-{seed}.png"
    generation = index_state(client)["generation"]
    t0 = time.perf_counter()
    (gallery / name).write_bytes(data)
    while True:
        if index_state(client)["generation"] != generation:
            _, body = search(client, data)
            if found(body, name):
                return time.perf_counter() - t0
            generation = index_state(client)["generation"]
        time.sleep(0.02)


def idle_latencies(client: httpx.Client, query: bytes, count: int) -> list[float]:
    return [search(client, query)[0] for _ in range(count)]


def busy_latencies(client: httpx.Client, gallery: Path, query: bytes, burst: int, first_seed: int) -> tuple[list[float], float]:
    """Searches while a burst of new files is embedded; also the burst's images per second."""
    generation = index_state(client)["generation"]
    for i in range(burst):
        (gallery / "burst").mkdir(exist_ok=True)
        (gallery / "burst" / f"{first_seed + i}.png").write_bytes(noise_png(first_seed + i))
    while index_state(client)["state"] != "indexing" and index_state(client)["generation"] == generation:
        time.sleep(0.02)  # the update starts after the debounce
    times, rate = [], 0.0
    while True:
        state = index_state(client)
        if state["state"] != "indexing":
            break
        rate = state["images_per_second"] or rate
        times.append(search(client, query)[0])
    return times, rate


def row(name: str, values: list[float]) -> str:
    if not values:
        return f"  {name:<6} (no searches)"
    ms = sorted(v * 1e3 for v in values)
    p90 = ms[min(len(ms) - 1, int(0.9 * len(ms)))]
    return f"  {name:<6} n={len(ms):<4} p50 {statistics.median(ms):8.1f} ms   p90 {p90:8.1f} ms   max {ms[-1]:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODELS, default="small")
    parser.add_argument("--gallery-size", type=int, default=100)
    parser.add_argument("--files", type=int, default=20, help="arrivals timed, one at a time")
    parser.add_argument("--burst", type=int, default=40, help="files embedded during the busy searches")
    parser.add_argument("--searches", type=int, default=15, help="idle searches in each idle phase")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gallery = tmp / "gallery"
        gallery.mkdir()
        for i in range(args.gallery_size):
            (gallery / f"{i:05d}.png").write_bytes(noise_png(i))
        weights = make_weights(tmp, args.model)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        for var in ("GALLERY_FEATURES_PATH", "GALLERY_MAPPING_PATH", "GALLERY_MANIFEST_PATH", "HISTORY_PATH"):
            env.pop(var, None)
        cmd = [sys.executable, "-m", "vistamatch", "serve", "--gallery", str(gallery), "--weights", str(weights), "--port", str(port), "--quiet"]
        server = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        client.get("/api/health")
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline or server.poll() is not None:
                            raise SystemExit("the server did not start")
                        time.sleep(0.2)
                t0 = time.perf_counter()
                wait_state(client, "watching")
                first = index_state(client)
                print(f"model {args.model}, gallery {args.gallery_size} images: first build {time.perf_counter() - t0:.1f} s "
                      f"({first['images_per_second'] or 0:.1f} images/s), load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
                query = noise_png(0)
                search(client, query)  # warm up

                arrivals = [arrival_seconds(client, gallery, 100_000 + i) for i in range(args.files)]
                wait_state(client, "watching")
                print(
                    f"arrival -> found by a search: median {statistics.median(arrivals):.2f} s, "
                    f"min {min(arrivals):.2f} s, max {max(arrivals):.2f} s over {len(arrivals)} files (debounce 1 s)"
                )

                idle = idle_latencies(client, query, args.searches)
                busy, rate = busy_latencies(client, gallery, query, args.burst, 200_000)
                wait_state(client, "watching")
                idle += idle_latencies(client, query, args.searches)
                print(f"search latency, idle vs during a background update of {args.burst} files ({rate:.1f} images/s):")
                print(row("idle", idle))
                print(row("busy", busy))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
