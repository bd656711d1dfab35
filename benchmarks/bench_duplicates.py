"""Neighbour graph and grouping time for ``vistamatch duplicates`` on 10k, 100k and 1M synthetic
vectors, exact and approximate.

Each index is a temporary .npy of L2-normalised float32 768-d vectors, opened as a memory map (as
``open_index`` does): rows drawn around random topics of ``TOPIC_ROWS`` rows each (cosine ~0.5 between rows of a
topic, ~0 across: an approximate index has structure to find, as with real embeddings, and no pair
reaches the floor by chance), with planted near duplicates (cosine about 0.97 to their original).
Side by side on the same vectors:

- blocked exact: ``exact_neighbours`` (tiles on and above the diagonal of the Gram matrix, one
  4096 x 4096 tile in memory at a time) at the cache's floor of 0.90; above ``--exact-max`` rows it
  is not run: the projection multiplies one measured tile by the number of tiles (N^2 / 2 / 4096^2);
- approximate: ``neighbours_from_search`` through the faiss ``AnnStore`` (built and effort-tuned as
  ``vistamatch index`` does it: recall@50 >= 0.99 on 1,000 of the rows), with the recall of its pairs
  against the exact graph's where that was run;
- naive: one ``NumpyStore.search`` per row (the existing query path used N times), timed on a
  sample of rows and scaled to N;
- grouping (``keeper_groups``) and the cache file's write and read.

Exact wall time is the median of ``--repeat`` runs, the approximate path runs once; CPU is process
time (both cores).

    python benchmarks/bench_duplicates.py                     # 10k, 100k
    python benchmarks/bench_duplicates.py --sizes 100000,1000000 --repeat 1
    python benchmarks/bench_duplicates.py --sizes 10000 --repeat 5 --no-ann
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

from vistamatch.duplicates import exact_neighbours, keeper_groups, neighbours_from_search
from vistamatch.duplicates.graph import DEFAULT_BLOCK
from vistamatch.index.store import RECALL_K, RECALL_TARGET
from vistamatch.search import NumpyStore, recall
from vistamatch.search.ann import AnnStore

DIM = 768
FLOOR = 0.90
PLANTED = 0.01  # share of rows that are near copies of another row
TOPIC_ROWS = 1000  # rows per topic: a row's top-50 lies in its topic


def write_index(path: Path, n: int, rng: np.random.Generator, chunk: int = 50_000) -> int:
    """Clustered unit vectors into a .npy memory map, with planted near copies; returns how many."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    topics = rng.standard_normal((max(1, n // TOPIC_ROWS), DIM), dtype=np.float32) / np.sqrt(DIM)  # ~unit
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        # a topic plus noise of the same length: cosine ~0.5 to another row of the topic
        block = topics[rng.integers(0, len(topics), count)] + rng.standard_normal((count, DIM), dtype=np.float32) / np.sqrt(DIM)
        out[start : start + count] = block / np.linalg.norm(block, axis=1, keepdims=True)
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


def projected_exact(vectors, n: int) -> float:
    """Seconds of the exact graph from one measured tile (its product, maxima and threshold) times the tile count."""
    rows = np.asarray(vectors[:DEFAULT_BLOCK], np.float32)
    cols = np.asarray(vectors[DEFAULT_BLOCK : 2 * DEFAULT_BLOCK], np.float32)
    walls = []
    for _ in range(3):
        _, wall, _ = timed(lambda: (lambda t: (t.max(axis=1), t.max(axis=0), np.nonzero(t >= FLOOR)))(rows @ cols.T))
        walls.append(wall)
    blocks = -(-n // DEFAULT_BLOCK)
    return min(walls) * blocks * (blocks + 1) / 2


def pair_recall(approximate, exact) -> float:
    """Share of the exact graph's pairs that the approximate graph found."""
    want = exact.first * exact.size + exact.second
    got = approximate.first * approximate.size + approximate.second
    return float(np.isin(want, got).mean()) if len(want) else 1.0


def bench_size(n: int, args, folder: Path, rng: np.random.Generator) -> dict:
    path = folder / f"features_{n}.npy"
    planted = write_index(path, n, rng)
    vectors = np.load(path, mmap_mode="r")
    r = {"n": n, "planted": planted, "projected_s": projected_exact(vectors, n)}
    graph = None
    if n <= args.exact_max:
        walls, cpus = [], []
        for _ in range(args.repeat):
            graph, wall, cpu = timed(lambda: exact_neighbours(vectors, FLOOR))
            walls.append(wall)
            cpus.append(cpu)
        r.update(exact_pairs=len(graph.first), exact_s=statistics.median(walls), exact_cpu_s=statistics.median(cpus))
    store = NumpyStore(vectors, np.arange(n).astype(str))
    rows = rng.choice(n, min(args.sample, n), replace=False)
    _, naive_wall, _ = timed(lambda: [store.search(vectors[row], 32) for row in rows])
    r["naive_s"] = naive_wall * n / len(rows)
    if args.ann:
        ann, r["build_s"], _ = timed(lambda: AnnStore.build(store))
        report, r["tune_s"], _ = timed(lambda: recall.tune_effort(ann, store, recall.sample_rows(store), k=RECALL_K, target=RECALL_TARGET))
        r.update(effort=ann.effort, lists=ann.max_effort, recall50=report.recall)
        approximate, r["ann_s"], r["ann_cpu_s"] = timed(lambda: neighbours_from_search(ann, FLOOR))
        r["ann_pairs"] = len(approximate.first)
        if graph is not None:
            r["pair_recall"] = pair_recall(approximate, graph)
        graph = graph or approximate
    if graph is not None:
        groups, r["group_s"], _ = timed(lambda: keeper_groups(graph, np.arange(n)))
        r["groups"] = len(groups)
        buffer = io.BytesIO()
        _, save_wall, _ = timed(lambda: np.savez(buffer, first=graph.first, second=graph.second, scores=graph.scores, nearest=graph.nearest))
        _, load_wall, _ = timed(lambda: dict(np.load(io.BytesIO(buffer.getvalue()))))
        r.update(cache_kb=len(buffer.getvalue()) / 1024, cache_rw_ms=(save_wall + load_wall) * 1e3)
    path.unlink()
    return r


def show(r: dict) -> str:
    """One size's figures, "–" where not measured."""

    def f(key, fmt):
        return format(r[key], fmt) if key in r else "–"

    return (
        f"{r['n']:>9}  {r['planted']:>7}  {f('exact_pairs', 'd'):>7}  {f('exact_s', '.1f'):>7}  {f('exact_cpu_s', '.1f'):>7}  "
        f"{r['projected_s']:>11.1f}  {r['naive_s']:>9.0f}  {f('build_s', '.1f'):>7}  {f('tune_s', '.1f'):>6}  "
        f"{f('effort', 'd'):>6}/{f('lists', 'd'):<5}  {f('recall50', '.3f'):>8}  {f('ann_s', '.1f'):>6}  {f('ann_cpu_s', '.1f'):>7}  "
        f"{f('ann_pairs', 'd'):>9}  {f('pair_recall', '.4f'):>11}  {f('groups', 'd'):>7}  {f('group_s', '.3f'):>9}  "
        f"{f('cache_kb', '.0f'):>8}  {f('cache_rw_ms', '.1f'):>11}"
    )


HEADER = (
    f"{'vectors':>9}  {'planted':>7}  {'pairs':>7}  {'exact s':>7}  {'CPU s':>7}  {'projected s':>11}  {'naive s':>9}  "
    f"{'build s':>7}  {'tune s':>6}  {'effort/lists':>12}  {'recall50':>8}  {'ann s':>6}  {'ann CPU':>7}  {'ann pairs':>9}  "
    f"{'pair recall':>11}  {'groups':>7}  {'group s':>9}  {'cache KB':>8}  {'cache w+r':>11}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated index sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the exact graph per size (median)")
    parser.add_argument("--exact-max", type=int, default=100_000, help="largest size the exact graph is run at (above: projected)")
    parser.add_argument("--no-ann", dest="ann", action="store_false", help="leave out the approximate graph")
    parser.add_argument("--sample", type=int, default=300, help="rows searched one by one for the naive figure")
    parser.add_argument("--tmp", default=None, help="folder for the temporary index files")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"neighbour graph at floor {FLOOR}, {DIM}-d float32, memory-mapped; load average {os.getloadavg()[0]:.1f}")
    print(HEADER)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            print(show(bench_size(n, args, Path(tmp), rng)), flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
