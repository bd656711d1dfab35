"""End-to-end POST /api/search on a 1M-image gallery against the same search on a 10k one, side by side.

Two `vistamatch serve` processes run at once, one per gallery, each with the default store choice
(`--store auto`: the exact scan below ``AUTO_EXACT_BELOW`` rows, the approximate store above). The
galleries are bench_ann.py's clustered unit vectors (see its docstring) in the original project's
layout (features and mapping only), so the server builds and tunes the approximate structure on
first open, as it does for a user's old index (the exact scan answering meanwhile); the timing
starts once each server searches with the store it chose. The model is
DINOv2 with random weights (ViT-S/14 by default: the real architecture, so the real cost), the query
a 512 x 512 photo from scikit-image as JPEG. Requests alternate between the two servers, so machine
noise hits both alike; p50s and their ratio are printed, with the servers' own search part
(timing_ms: store + re-score + dedup + tiers).

    python benchmarks/bench_http_scale.py                       # 10k vs 1M, ViT-S, 30 rounds
    python benchmarks/bench_http_scale.py --model base --tmp /var/tmp
Goal (issue 12): the 1M search within 5 % of the 10k one.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from bench_ann import Clustered, write_features
from bench_api import MODELS, make_weights, pct, query_jpeg

from vistamatch.search.ann import choose_kind

SETTLE_S = 0.3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(folder: Path, weights: Path, port: int) -> subprocess.Popen:
    (folder / "gallery").mkdir(exist_ok=True)
    cmd = [
        sys.executable, "-m", "vistamatch", "serve", "--gallery", str(folder / "gallery"), "--weights", str(weights),
        "--features", str(folder / "gallery_features.npy"), "--mapping", str(folder / "gallery_mapping.npy"),
        "--history", str(folder / "search_history.json"), "--port", str(port), "--no-update", "--quiet",
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / "serve.log", "wb"))


def wait_ready(proc: subprocess.Popen, port: int, log: Path, limit_s: float = 1800) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if proc.poll() is not None:
            raise SystemExit(f"server failed: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()["ready"]:
                return time.monotonic() - t0
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"server on port {port} not ready after {limit_s:.0f} s")


def wait_store(port: int, kind: str, limit_s: float = 1800) -> dict:
    """/api/stats once the server searches with ``kind`` (it grows the structure while the exact scan answers)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        stats = httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=10).json()
        if stats.get("store") == kind:
            return stats
        time.sleep(1)
    raise SystemExit(f"server on port {port} still searches with {stats.get('store')} after {limit_s:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--sizes", default="10000,1000000", help="two gallery sizes: the reference, then the large one")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--tmp", default=None, help="folder for the galleries (default: the system's temp folder)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    dim = MODELS[args.model][0]
    query = query_jpeg()
    servers: list[tuple[int, int, subprocess.Popen]] = []
    with tempfile.TemporaryDirectory(prefix="bench_http_scale_", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        weights = make_weights(tmp, args.model)
        try:
            for n in sizes:
                folder = tmp / f"g{n}"
                folder.mkdir()
                names = write_features(folder / "gallery_features.npy", n, Clustered(n, np.random.default_rng(n), False, dim))
                np.save(folder / "gallery_mapping.npy", names)
                port = free_port()
                proc = start_serve(folder, weights, port)
                t0 = time.monotonic()
                ready_s = wait_ready(proc, port, folder / "serve.log")
                stats = wait_store(port, "ann" if choose_kind(n) == "ann" else "exact")
                print(f"{n:,} x {dim}: answering after {ready_s:.1f} s, store {stats['store']} after {time.monotonic() - t0:.1f} s: "
                      f"{stats['store_description']}")
                servers.append((n, port, proc))
            times = {n: {"http": [], "search": [], "total": []} for n in sizes}
            clients = {n: httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) for n, port, _ in servers}
            for round_ in range(args.warmup + args.rounds):
                order = sizes if round_ % 2 == 0 else sizes[::-1]
                for n in order:
                    time.sleep(SETTLE_S)
                    t0 = time.perf_counter()
                    r = clients[n].post("/api/search", files={"image": ("q.jpg", query, "image/jpeg")}, params={"topk": 50})
                    elapsed = (time.perf_counter() - t0) * 1e3
                    r.raise_for_status()
                    if round_ >= args.warmup:
                        timing = r.json()["timing_ms"]
                        times[n]["http"].append(elapsed)
                        times[n]["total"].append(timing["total"])
                        times[n]["search"].append(timing["search"] + timing.get("dedup_filter", 0.0))
            for client in clients.values():
                client.close()
        finally:
            for _, _, proc in servers:
                proc.terminate()
                proc.wait(timeout=60)

    print(f"\nViT-{args.model}/14 random weights, top-50 with dedup, {args.rounds} rounds alternating, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'gallery':>10} {'http p50':>9} {'http p95':>9} {'server p50':>11} {'search p50':>11}")
    for n in sizes:
        t = times[n]
        print(f"{n:>10,} {pct(t['http'], 50):>9.1f} {pct(t['http'], 95):>9.1f} {pct(t['total'], 50):>11.1f} {pct(t['search'], 50):>11.2f}")
    small, large = sizes
    ratios = [b / a for a, b in zip(times[small]["http"], times[large]["http"])]
    ratio = pct(times[large]["http"], 50) / pct(times[small]["http"], 50)
    print(f"\n{large:,} / {small:,}: http p50 ratio {ratio:.3f}, median of the per-round ratios {pct(ratios, 50):.3f} "
          f"(goal <= 1.05: {'met' if ratio <= 1.05 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
