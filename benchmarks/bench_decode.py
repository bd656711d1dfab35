"""How fast the build's feed can decode without a model: worker threads against worker processes.

Beside a GPU the model waits for the decoders, so the feed's own rate is the ceiling of a GPU
build. The gallery is bench_index.py's (crops of sample photos, 512-1600 px JPEGs); each round
reads, hashes, decodes and preprocesses every file through ``pipeline.decode_ahead``, once with
``workers`` threads and once with ``workers`` spawned processes (reading and hashing still in
threads), the two alternating; medians of the rounds. The processes' start-up is counted in each
round, as a build pays it once.

    python benchmarks/bench_decode.py                 # 200 images, 2 workers, 5 rounds
    python benchmarks/bench_decode.py --images 400 --workers 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_index import make_gallery  # same folder

from vistamatch.imaging import PreprocessConfig
from vistamatch.index.pipeline import Claims, decode_ahead
from vistamatch.index.scan import scan_gallery


def images_per_second(files, workers: int, processes: int) -> float:
    t0 = time.perf_counter()
    count = sum(d.pixels is not None for d in decode_ahead(files, PreprocessConfig(), Claims(), workers=workers, prefetch=8 * workers, processes=processes))
    return count / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_gallery(Path(tmp), args.images, np.random.default_rng(0))
        files = scan_gallery(Path(tmp))
        rates: dict[str, list[float]] = {"threads": [], "processes": []}
        for round_ in range(args.rounds):
            order = ("threads", "processes") if round_ % 2 == 0 else ("processes", "threads")
            for kind in order:
                rates[kind].append(images_per_second(files, args.workers, args.workers if kind == "processes" else 0))
    print(f"{len(files)} JPEGs (512-1600 px), {args.workers} workers, {args.rounds} rounds alternating, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for kind, values in rates.items():
        print(f"{kind:<10} median {statistics.median(values):7.1f} images/s  (rounds: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"processes / threads: {statistics.median(rates['processes']) / statistics.median(rates['threads']):.2f}")


if __name__ == "__main__":
    main()
