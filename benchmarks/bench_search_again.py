"""What a control change costs in the page: POST /api/search/again against uploading again.

The page re-runs its query when Top-K, dedup or the tier policy change, by the history entry's stored
embedding (no upload, no decode, no model run). This times, interleaved over a live `uvicorn app:app`
(a synthetic 10k index and random ViT-B/14 weights, as bench_api.py):
  upload      - POST /api/search with the JPEG again (what the page did before)
  again       - POST /api/search/again with another Top-K
  again page2 - POST /api/search/again with offset 50 (the page's "load more")

    python benchmarks/bench_search_again.py                  # ViT-B/14, 10k images, 10 rounds
    python benchmarks/bench_search_again.py --model small --rounds 5
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import MODELS, SETTLE_S, make_index, make_weights, pct, query_jpeg, start_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="base")
    parser.add_argument("--gallery-size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_again_") as tmp:
        tmp = Path(tmp)
        (tmp / "gallery").mkdir()
        weights = make_weights(tmp, args.model)
        make_index(tmp, args.gallery_size, MODELS[args.model][0])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "GALLERY_DIR": str(tmp / "gallery"),
            "WEIGHTS_PATH": str(weights),
            "GALLERY_FEATURES_PATH": str(tmp / "gallery_features.npy"),
            "GALLERY_MAPPING_PATH": str(tmp / "gallery_mapping.npy"),
            "HISTORY_PATH": str(tmp / "search_history.json"),
            "VISTAMATCH_THUMBS_DIR": str(tmp / "thumbs"),
            "VISTAMATCH_UPDATE_INDEX": "0",
        }
        query = query_jpeg()
        server = start_server(env, port)
        times: dict[str, list[float]] = {"upload": [], "again": [], "again page2": []}
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
                entry = http.post("/api/search", files={"image": ("q.jpg", query, "image/jpeg")}, params={"topk": 50}).json()
                requests = {
                    "upload": lambda: http.post("/api/search", files={"image": ("q.jpg", query, "image/jpeg")}, params={"topk": 40}),
                    "again": lambda: http.post("/api/search/again", json={"history_id": entry["history_id"], "topk": 40}),
                    "again page2": lambda: http.post("/api/search/again", json={"history_id": entry["history_id"], "topk": 50, "offset": 50}),
                }
                for round_ in range(args.warmup + args.rounds):
                    for name, send in requests.items():
                        time.sleep(SETTLE_S)
                        t0 = time.perf_counter()
                        send().raise_for_status()
                        if round_ >= args.warmup:
                            times[name].append((time.perf_counter() - t0) * 1e3)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"ViT-{args.model}/14 random weights, {args.gallery_size} x {MODELS[args.model][0]} index, {os.cpu_count()} CPUs")
    print(f"\n{'':14}{'p50 ms':>10}{'p95 ms':>10}   ({args.rounds} rounds, interleaved)")
    for name, values in times.items():
        print(f"{name:14}{pct(values, 50):10.1f}{pct(values, 95):10.1f}")
    print(f"\nupload / again (p50): {pct(times['upload'], 50) / pct(times['again'], 50):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
