"""Search latency of one approximate structure with its inverted lists copied into memory vs memory-mapped.

``AnnStore.load`` maps the lists from the file (what ``open_index`` does); ``from_buffer`` without a
descriptor copies them. One structure of bench_ann.py's clustered vectors is saved, loaded both
ways, and the queries alternate between the two, so both see the same load.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ann_mapped.py [--n 100000] [--queries 400]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_ann import Clustered, percentile

from vistamatch.search import NumpyStore
from vistamatch.search.ann import AnnStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    data = Clustered(args.n, np.random.default_rng(0), uniform=False)
    exact = NumpyStore(data.draw(args.n).astype(np.float32), np.array([f"{i}.jpg" for i in range(args.n)]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "structure.ivf"
        AnnStore.build(exact).save(path)
        stores = {"copied": AnnStore.from_buffer(np.fromfile(path, np.uint8), exact, path), "mapped": AnnStore.load(path, exact)}
        assert stores["mapped"].mapped and not stores["copied"].mapped
        ms = {name: [] for name in stores}
        for query in data.draw(args.queries).astype(np.float32):
            for name, store in stores.items():
                t0 = time.perf_counter()
                store.search(query, 50)
                ms[name].append((time.perf_counter() - t0) * 1e3)
    print(f"{args.n:,} clustered vectors, top-50, {args.queries} queries alternating")
    for name, values in ms.items():
        print(f"{name:<7} p50 {statistics.median(values):.3f} ms  p95 {percentile(values, 0.95):.3f} ms")


if __name__ == "__main__":
    main()
