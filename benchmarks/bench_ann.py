"""Exact scan vs the approximate store (search/ann.py), side by side in one run, on synthetic 768-d vectors.

Clustered vectors (the default) imitate a photo collection: one "theme" centre per 2,000 vectors
(random unit vectors), one "subject" centre per 20 vectors drawn around a theme (theme + N(0, 1/d)
per dimension, normalised), each vector drawn around a subject (subject + N(0, 0.49/d), normalised).
A top-50 then spans a subject and its neighbours in the theme (about 40 % from the query's own
subject), as for real embeddings. ``--uniform`` draws random unit vectors instead: the worst case,
where no index can beat the scan by much.

The features are a temporary .npy opened as a memory map (as ``open_index`` does). The approximate
store is built, then its effort (lists probed) tuned with ``tune_effort`` on 1,000 of the gallery's
own vectors to recall@50 >= 0.99, as an index build would. Queries are 200 held-out vectors of the
same distribution; each runs the whole search part (``search``: store, re-score, dedup, tiers) on
both stores in turn, the first one as warm-up. Recall@50 is against the exact scan's top-50.

    python benchmarks/bench_ann.py                # 100k
    python benchmarks/bench_ann.py --n 1000000    # 1M: ~3 GB of features in the temp folder
    python benchmarks/bench_ann.py --uniform
    python benchmarks/bench_ann.py --n 10000000 --dim 384 --queries 100 --exact-queries 20 --tmp /var/tmp
                                                  # 10M on disk: 15 GB of features, memory-mapped
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vistamatch.search import NumpyStore, search
from vistamatch.search.ann import AnnStore, default_lists
from vistamatch.search.recall import measure_recall, sample_rows, tune_effort

DIM = 768
K = 50
SUBJECT, THEME = 20, 2000  # vectors per subject, per theme


class Clustered:
    def __init__(self, n: int, rng: np.random.Generator, uniform: bool, dim: int = DIM):
        self.rng, self.uniform, self.dim = rng, uniform, dim
        themes = _unit(rng.standard_normal((max(1, n // THEME), dim), dtype=np.float32))
        subjects = themes[rng.integers(0, len(themes), max(1, n // SUBJECT))]
        self.subjects = _unit(subjects + rng.standard_normal(subjects.shape, dtype=np.float32) / np.sqrt(dim))

    def draw(self, m: int) -> np.ndarray:
        noise = self.rng.standard_normal((m, self.dim), dtype=np.float32)
        if self.uniform:
            return _unit(noise)
        return _unit(self.subjects[self.rng.integers(0, len(self.subjects), m)] + 0.7 * noise / np.sqrt(self.dim))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_features(path: Path, n: int, data: Clustered, chunk: int = 100_000) -> np.ndarray:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, data.dim))
    for start in range(0, n, chunk):
        out[start : start + chunk] = data.draw(min(chunk, n - start))
    out.flush()
    del out
    return np.array([f"{i:08d}.jpg" for i in range(n)])


def time_searches(store, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        result = search(store, q, K, dedup=True)
        times.append((time.perf_counter() - t0) * 1e3)
        found.append(np.array([h.row for h in result.hits]))
    return times[1:], found[1:]  # the first is the warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=None, help="time the exact scan on the first N queries only (recall on those)")
    parser.add_argument("--lists", type=int, default=None, help="inverted lists (default: search.ann.default_lists)")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--uniform", action="store_true", help="uniform random unit vectors (worst case)")
    parser.add_argument("--tmp", default=None, help="folder for the features and the structure (default: the system's temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    data = Clustered(args.n, rng, args.uniform, args.dim)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = Path(tmp) / "features.npy"
        t0 = time.perf_counter()
        names = write_features(path, args.n, data)
        write_s = time.perf_counter() - t0
        queries = data.draw(args.queries + 1)
        exact = NumpyStore(np.load(path, mmap_mode="r"), names)

        t0 = time.perf_counter()
        ann = AnnStore.build(exact, lists=args.lists)
        build_s = time.perf_counter() - t0
        build_rss = peak_rss_mb()
        t0 = time.perf_counter()
        tuned = tune_effort(ann, exact, sample_rows(exact), K, args.target)
        tune_s = time.perf_counter() - t0
        ann.save(Path(tmp) / "ann.vmi")
        file_bytes = (Path(tmp) / "ann.vmi").stat().st_size
        effort = ann.effort
        del ann
        t0 = time.perf_counter()
        ann = AnnStore.load(Path(tmp) / "ann.vmi", NumpyStore(np.load(path, mmap_mode="r"), names))
        open_s = time.perf_counter() - t0
        ann.effort = effort

        ann_ms, ann_found = time_searches(ann, queries)
        exact_ms, exact_found = time_searches(exact, queries[: (args.exact_queries or args.queries) + 1])
        recall = statistics.mean(len(np.intersect1d(a, e)) / len(e) for a, e in zip(ann_found, exact_found))
        held_out = measure_recall(ann, exact, sample_rows(exact, 200, seed=1), K).recall

    kind = "uniform" if args.uniform else "clustered"
    lists = ann.max_effort
    print(f"{args.n:,} {kind} {args.dim}-d vectors (written in {write_s:.0f} s, memory-mapped), top-{K} with dedup, "
          f"{len(ann_ms)} held-out queries ({len(exact_ms)} on the exact scan), medians of one run")
    print(f"{'store':<32} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'recall@50':>9} {'file MB':>9}")
    print(f"{'exact (NumPy, memory map)':<32} {0:>8.1f} {statistics.median(exact_ms):>7.2f} "
          f"{percentile(exact_ms, 0.95):>7.2f} {1:>9.4f} {args.n * args.dim * 4 / 2**20:>9.0f}")
    print(f"{f'ann IVF{lists}-SQ8, {ann.effort} probes':<32} {build_s:>8.1f} {statistics.median(ann_ms):>7.2f} "
          f"{percentile(ann_ms, 0.95):>7.2f} {recall:>9.4f} {file_bytes / 2**20:>9.0f}")
    print(f"tuning to recall@{K} {args.target}: {tuned.recall:.4f} at {tuned.effort} probes, met={tuned.met}, {tune_s:.1f} s "
          f"(default lists for this size: {default_lists(args.n)}); other gallery rows as queries: {held_out:.4f}")
    print(f"structure file {file_bytes / 2**20:.0f} MB (plus the features it re-scores from), opened in {open_s * 1e3:.0f} ms; "
          f"peak RSS after the build {build_rss:.0f} MB, at the end {peak_rss_mb():.0f} MB (mapped feature pages included)")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    main()
