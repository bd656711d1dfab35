"""Indexing throughput of ``build_index`` beside the bare model throughput, on the same machine.

A generated gallery of JPEGs of mixed sizes (crops of scikit-image's sample photos, 512 to 1600 px,
landscape, portrait and square) is indexed from scratch with random DINOv2 weights. The bare figure
runs only the model's forward pass on the same images, decoded beforehand and grouped by shape into
the same batch size, so the ratio shows what scanning, reading, hashing, decoding, batching,
checkpointing and writing cost on top of the model. Bare runs and builds alternate for a few rounds
(machine noise hits both alike); the median ratio is reported, with how busy the build kept the
model. Goal: ratio >= 0.9.

    python benchmarks/bench_index.py                        # 300 images, ViT-S/14 sizes
    python benchmarks/bench_index.py --model base --images 120
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from vistamatch.imaging import PreprocessConfig, load_and_preprocess
from vistamatch.index import IndexPaths, build_index
from vistamatch.model import Dinov2Config, load_model, random_state_dict, save_weights

SIZES = [(640, 480), (480, 640), (800, 600), (1024, 768), (768, 1024), (1280, 960), (512, 512), (1600, 1200), (900, 600)]
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
CONFIGS = {  # ViT sizes with the released layer counts and widths
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}


def make_gallery(folder: Path, count: int, rng: np.random.Generator) -> None:
    from skimage import data

    photos = [Image.fromarray(np.ascontiguousarray(getattr(data, name)())).convert("RGB") for name in PHOTOS]
    for i in range(count):
        img = photos[i % len(photos)]
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        size = SIZES[int(rng.integers(len(SIZES)))]
        img.crop((x, y, x + cw, y + ch)).resize(size, Image.BICUBIC).save(folder / f"{i:05d}.jpg", quality=90)


def bare_images_per_second(model, batches: list[np.ndarray]) -> float:
    t0 = time.perf_counter()
    for batch in batches:
        model(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - t0)


class TimedModel:
    """The model, counting the seconds spent in its forward pass (to see how busy a build keeps it)."""

    def __init__(self, model):
        self.model, self.fingerprint, self.config = model, model.fingerprint, model.config
        self.seconds = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.model(x)
        finally:
            self.seconds += time.perf_counter() - t0


def shape_batches(files: list[Path], config: PreprocessConfig, batch_size: int) -> list[np.ndarray]:
    buckets = defaultdict(list)
    for f in files:
        x = load_and_preprocess(f, config)
        buckets[x.shape].append(x)
    return [np.concatenate(b[i : i + batch_size]) for b in buckets.values() for i in range(0, len(b), batch_size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--model", choices=sorted(CONFIGS), default="small", help="ViT-S/14 (default) or ViT-B/14 sizes")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default: build_index's)")
    parser.add_argument("--rounds", type=int, default=3, help="bare/build rounds, alternated (default 3)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        gallery = tmp / "gallery"
        gallery.mkdir()
        make_gallery(gallery, args.images, rng)
        weights = tmp / "weights.npz"
        save_weights(random_state_dict(Dinov2Config(**CONFIGS[args.model]), seed=0), weights)
        model = load_model(weights)
        config = PreprocessConfig()
        files = sorted(gallery.iterdir())
        batches = shape_batches(files, config, args.batch_size)
        shapes = sorted({b.shape[2:] for b in batches})
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        print(f"{args.images} JPEGs ({megabytes:.0f} MB, {len(SIZES)} sizes -> input shapes {shapes}), "
              f"ViT-{args.model[0].upper()}/14 random weights, batch {args.batch_size}")

        for batch in batches:  # warm-up: every shape once
            model(batch[:1])
        bare, build, busy = [], [], []
        for r in range(args.rounds):  # alternate, and swap the order every round, so noise hits both alike
            if r % 2 == 0:
                bare.append(bare_images_per_second(model, batches))
            timed = TimedModel(model)
            report = build_index(gallery, timed, IndexPaths.in_dir(tmp / f"idx{r}"), config,
                                 batch_size=args.batch_size, workers=args.workers, progress=False)
            build.append(report.total / report.seconds)
            busy.append(timed.seconds / report.seconds)
            if r % 2 == 1:
                bare.append(bare_images_per_second(model, batches))
            print(f"round {r + 1}: bare model {bare[-1]:.2f} images/s, build_index {build[-1]:.2f} images/s "
                  f"(whole build: scan, read, hash, decode, embed, write), model busy {busy[-1]:.0%} of the build")
        ratios = [b / m for b, m in zip(build, bare)]
        print(f"median: bare {statistics.median(bare):.2f} images/s, build {statistics.median(build):.2f} images/s, "
              f"ratio build/bare {statistics.median(ratios):.3f} (per round {', '.join(f'{x:.3f}' for x in ratios)}; goal >= 0.9)")
        t0 = time.perf_counter()
        again = build_index(gallery, model, IndexPaths.in_dir(tmp / "idx0"), config, progress=False)
        print(f"re-index of the unchanged gallery: {(time.perf_counter() - t0) * 1e3:.0f} ms, embedded {again.embedded}")


if __name__ == "__main__":
    main()
