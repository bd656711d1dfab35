"""A local build beside a Ray build (a local Ray instance of 2 CPUs) of the same gallery.

The gallery is bench_index.py's (JPEGs of mixed sizes cut from scikit-image's sample photos),
embedded with random DINOv2 weights by the NumPy embedder in both. Rounds alternate local and Ray
builds from scratch, and the median images/s of each is reported, with Ray's overhead. A Ray
build's time includes starting its actor pool and loading the weights in each actor (every build
does that); starting the Ray instance itself is measured once and left out. The features of both
builds are compared. Goal (issue 14): overhead at most 15 %.

    python benchmarks/bench_ray_build.py                      # 120 images, ViT-S/14 sizes
    python benchmarks/bench_ray_build.py --images 500 --model base
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import ray
from bench_index import CONFIGS, make_gallery

from vistamatch.embed import EmbedderSpec
from vistamatch.index import IndexPaths, build_index
from vistamatch.index.ray_build import build_index_ray
from vistamatch.model import Dinov2Config, random_state_dict, save_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--model", choices=sorted(CONFIGS), default="small")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    parser.add_argument("--shard-files", type=int, default=40, help="files per shard (default 40)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gallery = tmp / "gallery"
        gallery.mkdir()
        make_gallery(gallery, args.images, np.random.default_rng(0))
        weights = tmp / "weights.npz"
        save_weights(random_state_dict(Dinov2Config(**CONFIGS[args.model]), seed=0), weights)
        spec = EmbedderSpec(str(weights), "numpy")
        embedder = spec.load(threads=args.cpus)
        t0 = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
        print(f"{args.images} JPEGs, ViT-{args.model[0].upper()}/14 random weights, numpy embedder; "
              f"Ray instance of {args.cpus} CPUs started in {time.perf_counter() - t0:.1f} s (not counted)")
        local, distributed = [], []
        for r in range(args.rounds):  # alternate, swapping the order each round
            order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
            for engine in order:
                paths = IndexPaths.in_dir(tmp / f"{engine}{r}")
                if engine == "local":
                    report = build_index(gallery, embedder, paths, progress=False, workers=args.cpus)
                    local.append(report.total / report.seconds)
                else:
                    report = build_index_ray(gallery, spec, paths, shard_files=args.shard_files, progress=False)
                    distributed.append(report.total / report.seconds)
                print(f"  round {r + 1} {engine:5s}: {report.total / report.seconds:6.2f} images/s ({report.seconds:.1f} s)")
        diff = np.abs(np.load(tmp / "local0/gallery_features.npy") - np.load(tmp / "ray0/gallery_features.npy")).max()
        ray.shutdown()
    lm, rm = statistics.median(local), statistics.median(distributed)
    print(f"median: local {lm:.2f} images/s, ray {rm:.2f} images/s: Ray overhead {100 * (lm / rm - 1):+.1f} % "
          f"(max abs difference of the features {diff:.1e})")


if __name__ == "__main__":
    main()
