"""Top-50 search latency with dedup on memory-mapped indexes of 10k, 100k and 1M synthetic vectors.

Each index is a temporary .npy of L2-normalised float32 768-d vectors, opened as a memory map (as
``open_index`` does). Queries are noisy copies of gallery rows, and every queried row has planted
exact and near duplicates under other names, so dedup has work to do. The first query per size is
a warm-up (it pages the file in); p50 and p95 are over the following ones. Beside them, the
"scan-only" p50: a bare ``features @ query`` on the same memory map, run just before each search,
i.e. the memory-bandwidth floor that an exact search cannot beat.

    python benchmarks/bench_search.py                 # 10k, 100k, 1M
    python benchmarks/bench_search.py --sizes 10000 --queries 50
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vistamatch.search import NumpyStore, search

DIM = 768
DUPLICATES_PER_QUERY = 8  # planted copies of each queried row


def write_index(path: Path, n: int, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
    """Random unit vectors into a .npy memory map, in chunks; returns the names."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    out.flush()
    del out
    return np.array([f"{i:07d}.jpg" for i in range(n)])


def plant_duplicates(path: Path, targets: np.ndarray, rng: np.random.Generator) -> None:
    """Overwrite rows after each target with exact and near copies of it."""
    feats = np.load(path, mmap_mode="r+")
    for t in targets:
        for j in range(1, DUPLICATES_PER_QUERY + 1):
            v = feats[t] + (0 if j % 2 else 0.0005) * rng.standard_normal(DIM, dtype=np.float32)
            feats[t + j] = v / np.linalg.norm(v)
    feats.flush()


def bench_size(n: int, queries: int, folder: Path, rng: np.random.Generator) -> dict:
    path = folder / f"features_{n}.npy"
    names = write_index(path, n, rng)
    targets = rng.choice(np.arange(0, n - DUPLICATES_PER_QUERY - 1, DUPLICATES_PER_QUERY + 1), queries + 1, replace=False)
    plant_duplicates(path, targets, rng)

    t0 = time.perf_counter()
    store = NumpyStore(np.load(path, mmap_mode="r"), names)
    open_ms = (time.perf_counter() - t0) * 1e3
    features = np.load(path, mmap_mode="r")
    times, floors, removed = [], [], []
    for i, t in enumerate(targets):
        q = np.asarray(store.vectors(np.array([t]))[0]) + 0.01 * rng.standard_normal(DIM, dtype=np.float32)
        t1 = time.perf_counter()
        features @ q  # the floor: one pass over the features, nothing else
        t2 = time.perf_counter()
        result = search(store, q, 50, dedup=True)
        t3 = time.perf_counter()
        assert result.topk_returned == 50
        if i:  # the first one is the warm-up
            floors.append((t2 - t1) * 1e3)
            times.append((t3 - t2) * 1e3)
            removed.append(result.duplicates_removed)
    path.unlink()
    return {
        "n": n,
        "open_ms": open_ms,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "floor_p50": statistics.median(floors),
        "dedup_removed": statistics.mean(removed),
    }


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated index sizes")
    parser.add_argument("--queries", type=int, default=30, help="timed queries per size (default 30)")
    parser.add_argument("--tmp", default=None, help="folder for the temporary index files")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"Top-50 with dedup (threshold 0.9995), {DIM}-d float32, memory-mapped, {args.queries} queries per size")
    print(f"{'vectors':>10}  {'open ms':>8}  {'p50 ms':>8}  {'p95 ms':>8}  {'scan-only p50':>13}  {'dups removed/query':>18}")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            r = bench_size(n, args.queries, Path(tmp), rng)
            print(
                f"{r['n']:>10}  {r['open_ms']:>8.2f}  {r['p50']:>8.2f}  {r['p95']:>8.2f}  {r['floor_p50']:>13.2f}  "
                f"{r['dedup_removed']:>18.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
