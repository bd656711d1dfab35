"""The candidates for the approximate store, side by side on bench_ann.py's clustered vectors.

Bare library calls, one query at a time (one thread), top-50 recall against the exact scan of 200
held-out queries; builds use every core. IVF lists: 4 sqrt(N). "+ re-score": 4 x 50 candidates
re-scored with the float32 vectors (as search/ann.py does). usearch is measured when installed
(``pip install usearch``); it is not a dependency.

    python benchmarks/bench_ann_candidates.py             # 100k
    python benchmarks/bench_ann_candidates.py --n 300000
"""

from __future__ import annotations

import argparse
import statistics
import time

import faiss
import numpy as np
from bench_ann import DIM, K, Clustered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = Clustered(args.n, rng, uniform=False)
    x, queries = data.draw(args.n), data.draw(args.queries)
    truth = [set(np.argsort(-(x @ q))[:K].tolist()) for q in queries]

    def run(name: str, build_s: float, efforts, set_effort, top) -> None:
        faiss.omp_set_num_threads(1)
        for effort in efforts:
            set_effort(effort)
            times, recall = [], []
            for q, want in zip(queries, truth):
                t0 = time.perf_counter()
                found = top(q)
                times.append((time.perf_counter() - t0) * 1e3)
                recall.append(len(want & set(found.tolist())) / K)
            print(f"{name:<24} build {build_s:6.1f} s  effort {effort:4d}: p50 {statistics.median(times):6.2f} ms  recall@50 {np.mean(recall):.4f}", flush=True)
        faiss.omp_set_num_threads(faiss.omp_get_max_threads())

    def rescored(ids: np.ndarray, q: np.ndarray) -> np.ndarray:
        ids = ids[ids >= 0]
        return ids[np.argsort(-(x[ids] @ q))[:K]]

    times = []
    for q in queries:
        t0 = time.perf_counter()
        np.argpartition(-(x @ q), K)[:K]
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"{'exact NumPy scan':<24} p50 {statistics.median(times):.2f} ms")

    lists = int(4 * np.sqrt(args.n))
    for name, spec, rescore in [("faiss IVF-flat", "IVF%d,Flat", False), ("faiss IVF-SQ8 + re-score", "IVF%d,SQ8", True)]:
        index = faiss.index_factory(DIM, spec % lists, faiss.METRIC_INNER_PRODUCT)
        t0 = time.perf_counter()
        index.train(x[rng.choice(args.n, min(args.n, lists * 40), replace=False)])
        index.add(x)
        top = (lambda q, i=index: rescored(i.search(q[None], 4 * K)[1][0], q)) if rescore else (lambda q, i=index: i.search(q[None], K)[1][0])
        run(name, time.perf_counter() - t0, [8, 16, 32, 64, 128], lambda e, i=index: setattr(i, "nprobe", e), top)

    hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    t0 = time.perf_counter()
    hnsw.add(x)
    run("faiss HNSW32-flat", time.perf_counter() - t0, [64, 128, 256], lambda e: setattr(hnsw.hnsw, "efSearch", e), lambda q: hnsw.search(q[None], K)[1][0])

    try:
        from usearch.index import Index
    except ImportError:
        print("usearch: not installed")
        return
    for dtype in ("f16", "i8"):
        index = Index(ndim=DIM, metric="cos", dtype=dtype, connectivity=16, expansion_add=128)
        t0 = time.perf_counter()
        index.add(np.arange(args.n), x, threads=2)
        fetch = K if dtype == "f16" else 2 * K  # i8: re-scored from 2 x 50
        top = lambda q, i=index, f=fetch: rescored(np.asarray(i.search(q, f, threads=1).keys), q)  # noqa: E731
        run(f"usearch HNSW16 {dtype}", time.perf_counter() - t0, [64, 128, 256], lambda e, i=index: setattr(i, "expansion_search", e), top)


if __name__ == "__main__":
    main()
