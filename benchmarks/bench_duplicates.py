"""Neighbour graph and grouping time for ``vistamatch duplicates`` on 10k and 100k synthetic vectors,
with a projection to 1M.

Each index is a temporary .npy of L2-normalised float32 768-d vectors, opened as a memory map (as
``open_index`` does), with planted groups of near duplicates (cosine about 0.97 to their original).
Side by side on the same vectors:

- blocked exact: ``exact_neighbours`` (tiles on and above the diagonal of the Gram matrix, one
  4096 x 4096 tile in memory at a time) at the cache's floor of 0.90;
- naive: one ``NumpyStore.search`` per row (the existing query path used N times), timed on a
  sample of rows and scaled to N;
- grouping (``keeper_groups``) and the cache file's write and read.

Wall time is the median of ``--repeat`` runs; CPU is process time (both cores). The exact graph is
O(N^2 D), so 1M is projected from the largest size measured as (1M / N)^2 times its time.

    python benchmarks/bench_duplicates.py                     # 10k, 100k
    python benchmarks/bench_duplicates.py --sizes 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vistamatch.duplicates import exact_neighbours, keeper_groups
from vistamatch.search import NumpyStore

DIM = 768
FLOOR = 0.90
PLANTED = 0.01  # share of rows that are near copies of another row


def write_index(path: Path, n: int, rng: np.random.Generator, chunk: int = 50_000) -> int:
    """Random unit vectors into a .npy memory map, with planted near copies; returns how many."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), DIM), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    copies = rng.choice(n, int(n * PLANTED), replace=False)
    originals = rng.integers(0, n, len(copies))
    for c, o in zip(copies, originals):
        v = out[o] + 0.25 / np.sqrt(DIM) * rng.standard_normal(DIM, dtype=np.float32)  # cosine ~0.97
        out[c] = v / np.linalg.norm(v)
    out.flush()
    del out
    return len(copies)


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def bench_size(n: int, repeat: int, sample: int, folder: Path, rng: np.random.Generator) -> dict:
    path = folder / f"features_{n}.npy"
    planted = write_index(path, n, rng)
    vectors = np.load(path, mmap_mode="r")
    walls, cpus = [], []
    for _ in range(repeat):
        graph, wall, cpu = timed(lambda: exact_neighbours(vectors, FLOOR))
        walls.append(wall)
        cpus.append(cpu)

    store = NumpyStore(vectors, np.arange(n).astype(str))
    rows = rng.choice(n, min(sample, n), replace=False)
    _, naive_wall, _ = timed(lambda: [store.search(vectors[r], 32) for r in rows])

    order = np.arange(n)
    groups, group_wall, _ = timed(lambda: keeper_groups(graph, order))
    buffer = io.BytesIO()
    _, save_wall, _ = timed(lambda: np.savez(buffer, first=graph.first, second=graph.second, scores=graph.scores, nearest=graph.nearest))
    _, load_wall, _ = timed(lambda: dict(np.load(io.BytesIO(buffer.getvalue()))))
    path.unlink()
    return {
        "n": n,
        "planted": planted,
        "pairs": len(graph.first),
        "groups": len(groups),
        "exact_s": statistics.median(walls),
        "exact_cpu_s": statistics.median(cpus),
        "naive_s": naive_wall * n / len(rows),
        "group_s": group_wall,
        "cache_kb": len(buffer.getvalue()) / 1024,
        "cache_rw_ms": (save_wall + load_wall) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated index sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the exact graph per size (median)")
    parser.add_argument("--sample", type=int, default=300, help="rows searched one by one for the naive figure")
    parser.add_argument("--tmp", default=None, help="folder for the temporary index files")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"neighbour graph at floor {FLOOR}, {DIM}-d float32, memory-mapped; load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'vectors':>9}  {'pairs':>7}  {'groups':>7}  {'exact s':>8}  {'exact CPU s':>11}  {'naive s (scaled)':>16}  "
        f"{'naive/exact':>11}  {'grouping s':>10}  {'cache KB':>9}  {'cache w+r ms':>12}"
    )
    last = None
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            r = bench_size(n, args.repeat, args.sample, Path(tmp), rng)
            print(
                f"{r['n']:>9}  {r['pairs']:>7}  {r['groups']:>7}  {r['exact_s']:>8.1f}  {r['exact_cpu_s']:>11.1f}  "
                f"{r['naive_s']:>16.1f}  {r['naive_s'] / r['exact_s']:>11.1f}  {r['group_s']:>10.3f}  {r['cache_kb']:>9.0f}  "
                f"{r['cache_rw_ms']:>12.1f}",
                flush=True,
            )
            last = r
    if last:
        scale = (1_000_000 / last["n"]) ** 2
        print(
            f"projected 1M (x{scale:.0f} of {last['n']}): exact {last['exact_s'] * scale / 60:.0f} min, "
            f"naive {last['naive_s'] * scale / 60:.0f} min; load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
