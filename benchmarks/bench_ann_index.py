"""The approximate store through the index: open time and search latency of ``open_index``, exact vs ann.

bench_ann.py's clustered 768-d vectors (one theme per 2,000 vectors, one subject per 20; see its
docstring) are committed twice through ``IndexFiles`` as a real index would be: once with the exact
store, once with the approximate one (``index.store.plan_store``: built, tuned to recall@50 >= 0.99
on 1,000 of the gallery's own rows, committed in the same journal as the rows). Then each index is
opened ``--opens`` times with ``open_index`` (features memory-mapped, page cache warm; median
printed), and 200 held-out queries run the search part (store, re-score, dedup, tiers: ``search``)
on the opened index's store. Recall@50 is against the exact index's answers.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ann_index.py            # 100k
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ann_index.py --n 300000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_ann import DIM, K, Clustered, percentile, time_searches

from vistamatch.index import IndexPaths, Manifest, open_index
from vistamatch.index.files import IndexFiles
from vistamatch.index.manifest import INDEXED, FileRecord
from vistamatch.index.store import plan_store
from vistamatch.search import NumpyStore


def commit_index(folder: Path, features: np.ndarray, names: np.ndarray, kind: str) -> tuple[IndexPaths, float]:
    """An index of these rows with store ``kind``; returns its paths and the store's build + tune seconds."""
    paths = IndexPaths.in_dir(folder)
    files = [FileRecord(str(name), 1000, 0, f"{i:032x}", INDEXED) for i, name in enumerate(names)]
    manifest = Manifest("synthetic", {}, features.shape[1], files, str(folder), "now")
    t0 = time.perf_counter()
    plan = plan_store(kind, NumpyStore(features, names), None, None, [])
    store_s = time.perf_counter() - t0
    manifest.store = plan.store
    index_files = IndexFiles(paths)
    with index_files.locked():
        index_files.commit(manifest, (features, names), plan.structure)
    return paths, store_s


def time_opens(paths: IndexPaths, times: int) -> tuple[float, object]:
    seconds = []
    for _ in range(times):
        t0 = time.perf_counter()
        index = open_index(paths)
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--opens", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = Clustered(args.n, np.random.default_rng(args.seed), uniform=False)
    features = np.concatenate([data.draw(min(100_000, args.n - s)).astype(np.float32) for s in range(0, args.n, 100_000)])
    names = np.array([f"{i:07d}.jpg" for i in range(args.n)])
    queries = data.draw(args.queries + 1)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("exact", "ann"):
            paths, store_s = commit_index(Path(tmp) / kind, features, names, kind)
            open_s, index = time_opens(paths, args.opens)
            assert index.store.exact == (kind == "exact"), index.store_description
            ms, found = time_searches(index.store, queries)
            size = paths.structure.stat().st_size if paths.structure.exists() else 0
            rows[kind] = (store_s, open_s, ms, found, size, index.store_description)
            del index
    exact_found = rows["exact"][3]
    print(f"{args.n:,} clustered {DIM}-d vectors through open_index, top-{K} with dedup, {args.queries} held-out queries")
    print(f"{'store':<6} {'build+tune s':>12} {'open ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'recall@50':>9} {'.ivf MB':>8}")
    for kind, (store_s, open_s, ms, found, size, _) in rows.items():
        recall = statistics.mean(len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact_found))
        print(f"{kind:<6} {store_s:>12.1f} {open_s * 1e3:>8.0f} {statistics.median(ms):>7.2f} "
              f"{percentile(ms, 0.95):>7.2f} {recall:>9.4f} {size / 2**20:>8.0f}")
    print(f"ann index says: {rows['ann'][5]}")


if __name__ == "__main__":
    main()
