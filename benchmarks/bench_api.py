"""End-to-end POST /api/search latency against the bare model time, on a 10k-image index.

The index is synthetic (random unit vectors and made-up file names; the search cost does not depend
on what the vectors mean), the model is DINOv2 ViT-B/14 with random weights (the real architecture
and size, so the real cost), the query a 512 x 512 photo from scikit-image as JPEG. The history file
is filled to its cap first, so every search pays a full-size history write.

The server runs as `uvicorn app:app` in its own process (as users run it); this process times, in
alternation so that machine noise hits both alike:
  model   - the forward pass alone, on the preprocessed query
  engine  - SearchEngine.search_image in process: decode + preprocess + model + top-K + dedup + tiers
  http    - POST /api/search over loopback: upload, multipart, the search, query thumbnail, history
            write, JSON
and, within each request, http minus the server's own search time (timing_ms.total): the server's
overhead, which machine noise barely touches.

    python benchmarks/bench_api.py               # ViT-B/14, 10k images, 20 rounds
    python benchmarks/bench_api.py --model small --rounds 10
Goal: http p50 <= 1.1 x model p50 + 30 ms.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SETTLE_S = 0.3
MODELS = {  # hidden, layers, heads, mlp
    "base": (768, 12, 12, 3072),
    "small": (384, 12, 6, 1536),
    "tiny": (32, 2, 2, 64),
}


def make_weights(folder: Path, size: str) -> Path:
    from vistamatch.model import Dinov2Config, random_state_dict, save_weights

    hidden, layers, heads, mlp = MODELS[size]
    config = Dinov2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=mlp)
    path = folder / f"random-dinov2-{size}.npz"
    save_weights(random_state_dict(config, seed=0), path)
    return path


def make_index(folder: Path, n: int, dim: int) -> None:
    """Random unit vectors and made-up names in the original layout (no manifest: served as it is)."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((n, dim), dtype=np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    np.save(folder / "gallery_features.npy", features)
    np.save(folder / "gallery_mapping.npy", np.array([f"{i // 1000:02d}/{i:06d}.jpg" for i in range(n)]))


def query_jpeg() -> bytes:
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def fill_history(path: Path, engine, query: bytes, cap: int) -> None:
    """`cap` entries shaped like real ones (50 results each), written as the server writes them."""
    from vistamatch.server.history import HistoryStore, new_entry_id, now_timestamp
    from vistamatch.server.paths import gallery_url, thumb_url

    result = engine.search_image(query, topk=50).to_dict()
    for tier in result["tiers"]:
        for item in tier["items"]:
            item["url"] = gallery_url(item["filename"])
            item["thumb_url"] = thumb_url(item["filename"])
    store = HistoryStore(path, cap)
    for _ in range(cap):
        store.add({**result, "query_name": "q.jpg", "id": new_entry_id(), "ts": now_timestamp()})


def start_server(env: dict, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server failed: {proc.stderr.read().decode(errors='replace')}")
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()
            if health["ready"]:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not become ready")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="base")
    parser.add_argument("--gallery-size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--history-cap", type=int, default=200)
    args = parser.parse_args()

    from vistamatch.imaging import PreprocessConfig, load_and_preprocess
    from vistamatch.index import IndexPaths, open_index
    from vistamatch.model import load_model
    from vistamatch.search import SearchEngine

    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        tmp = Path(tmp)
        (tmp / "gallery").mkdir()
        t = time.perf_counter()
        weights = make_weights(tmp, args.model)
        model = load_model(weights)
        make_index(tmp, args.gallery_size, model.config.hidden_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no manifest: a synthetic index
            index = open_index(IndexPaths.in_dir(tmp))
        engine = SearchEngine(model, index)
        query = query_jpeg()
        fill_history(tmp / "search_history.json", engine, query, args.history_cap)
        print(f"setup {time.perf_counter() - t:.1f} s: ViT-{args.model}/14 random weights, {index.size} x {index.dim} index, "
              f"history of {args.history_cap}, query {len(query) / 1024:.0f} KB JPEG, {os.cpu_count()} CPUs")

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
            "HISTORY_MAX_LEN": str(args.history_cap),
            "VISTAMATCH_THUMBS_DIR": str(tmp / "thumbs"),
            "VISTAMATCH_UPDATE_INDEX": "0",
        }
        server = start_server(env, port)
        pixels = load_and_preprocess(query, PreprocessConfig())  # (1, 3, H, W)
        times: dict[str, list[float]] = {"model": [], "engine": [], "http": [], "server total": []}
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
                for round_ in range(args.warmup + args.rounds):
                    # OpenBLAS threads spin for a while after a product: let the other process's settle.
                    time.sleep(SETTLE_S)
                    t0 = time.perf_counter()
                    model(pixels)
                    t1 = time.perf_counter()
                    engine.search_image(query, topk=50)
                    t2 = time.perf_counter()
                    time.sleep(SETTLE_S)
                    t3 = time.perf_counter()
                    r = http.post("/api/search", files={"image": ("q.jpg", query, "image/jpeg")}, params={"topk": 50})
                    t4 = time.perf_counter()
                    r.raise_for_status()
                    if round_ >= args.warmup:
                        times["model"].append((t1 - t0) * 1e3)
                        times["engine"].append((t2 - t1) * 1e3)
                        times["http"].append((t4 - t3) * 1e3)
                        times["server total"].append(r.json()["timing_ms"]["total"])
                history = json.loads((tmp / "search_history.json").read_text())
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"\n{'':14}{'p50 ms':>10}{'p95 ms':>10}   ({args.rounds} rounds, interleaved)")
    for name, values in times.items():
        print(f"{name:14}{pct(values, 50):10.1f}{pct(values, 95):10.1f}")
    model_p50, http_p50, http_p95 = pct(times["model"], 50), pct(times["http"], 50), pct(times["http"], 95)
    budget = 1.1 * model_p50 + 30
    overhead = [h - m for h, m in zip(times["http"], times["model"], strict=True)]
    # Measured within one request, so machine noise mostly cancels: what the server adds around its search.
    server_added = [h - s for h, s in zip(times["http"], times["server total"], strict=True)]
    print(f"\nhttp / model (p50): {http_p50 / model_p50:.3f}; http - model per round: p50 {pct(overhead, 50):.1f} ms, "
          f"p95 {pct(overhead, 95):.1f} ms")
    print(f"http - the server's own search time (upload, multipart, thumbnail, history, JSON, loopback), same request: "
          f"p50 {pct(server_added, 50):.1f} ms, p95 {pct(server_added, 95):.1f} ms")
    print(f"goal http p50 <= 1.1 x model p50 + 30 ms = {budget:.1f} ms: {'met' if http_p50 <= budget else 'NOT met'} "
          f"({http_p50:.1f} ms); p95 {http_p95:.1f} ms vs {1.1 * pct(times['model'], 95) + 30:.1f} ms")
    print(f"history entries after the run: {len(history)} (cap {args.history_cap})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
