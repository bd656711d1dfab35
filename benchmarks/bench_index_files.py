"""The index files under concurrency: commit time, open time, and readers racing commits.

A synthetic index (random unit vectors, made-up names) is committed through ``IndexFiles`` several
times while reader threads call ``open_index`` in a loop. Prints the commit time (staging with fsync,
journal, renames) and the open time (memory map + header + token check), and checks every read:
its vectors must be of its names' generation (a row's first value encodes the generation, and so
does each name), so a read that paired old vectors with new names would be counted.

    python benchmarks/bench_index_files.py                # 100k x 768, 5 commits, 2 readers
    python benchmarks/bench_index_files.py --rows 20000 --commits 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from vistamatch.index import IndexPaths, Manifest, open_index
from vistamatch.index.files import IndexFiles
from vistamatch.index.manifest import INDEXED, FileRecord


def generation_data(rows: int, dim: int, gen: int) -> tuple[Manifest, np.ndarray, np.ndarray]:
    features = np.full((rows, dim), 1.0 / np.sqrt(dim), np.float32)
    features[:, 0] = gen / 1000  # the generation, readable from any row
    names = np.array([f"g{gen:04d}/{i:07d}.jpg" for i in range(rows)])
    files = [FileRecord(n, 1, 1, f"{i:032x}", INDEXED) for i, n in enumerate(names.tolist())]
    manifest = Manifest("bench", {}, dim, files, "/gallery", "now")
    return manifest, features, names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--commits", type=int, default=5)
    ap.add_argument("--readers", type=int, default=2)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = IndexPaths.in_dir(Path(tmp))
        files = IndexFiles(paths)
        data = [generation_data(args.rows, args.dim, g) for g in range(1, args.commits + 2)]
        with files.locked():
            manifest, features, names = data[0]
            files.commit(manifest, (features, names))

        stop = threading.Event()
        opens, mixed, errors = [], [0], []

        def reader() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    index = open_index(paths)
                except Exception as exc:  # noqa: BLE001 - counted and printed
                    errors.append(repr(exc))
                    continue
                opens.append(time.perf_counter() - t0)
                gen_of_rows = round(float(index.store._vectors[-1, 0]) * 1000)
                if not str(index.relative_paths[-1]).startswith(f"g{gen_of_rows:04d}/"):
                    mixed[0] += 1

        threads = [threading.Thread(target=reader) for _ in range(args.readers)]
        for t in threads:
            t.start()
        commit_times = []
        for manifest, features, names in data[1:]:
            t0 = time.perf_counter()
            with files.locked():
                files.commit(manifest, (features, names))
            commit_times.append(time.perf_counter() - t0)
        stop.set()
        for t in threads:
            t.join()

    size_mb = args.rows * args.dim * 4 / 2**20
    print(f"index {args.rows} x {args.dim} float32 ({size_mb:.0f} MB), {args.commits} commits, {args.readers} readers")
    print(f"commit   median {statistics.median(commit_times) * 1000:.0f} ms  (max {max(commit_times) * 1000:.0f} ms)")
    print(f"open     median {statistics.median(opens) * 1000:.1f} ms  (max {max(opens) * 1000:.1f} ms, {len(opens)} opens)")
    print(f"mixed reads: {mixed[0]}   failed reads: {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))


if __name__ == "__main__":
    main()
