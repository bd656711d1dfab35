"""Images per second of the NumPy embedder (MKL kernels when installed) and the PyTorch embedder on
the same inputs, how closely they and bfloat16 agree, and how much of a feed's time goes to decoding.

1. Throughput: the same batch of preprocessed photos (224x224) through each embedder, the two
   alternating call by call for a few rounds (machine noise hits both alike); median and best.
2. Agreement on the gallery's real photos (mixed shapes): torch float32 and bfloat16 against NumPy.
3. Decode share: a gallery of JPEGs (bench_index.py's: crops of sample photos, 512-1600 px) decoded
   and preprocessed on one thread, against the embedder's time for the same images; then the whole
   feed (embed/feed.py, decoding in worker threads) end to end, with the time the model waited.

Random ViT weights with the released widths. torch runs in this process too, on the CPU unless
there is a GPU (then a GPU row is added); with no GPU, that path is not measured.

    python benchmarks/bench_embedders.py                     # ViT-S, batches 8 and 16
    python benchmarks/bench_embedders.py --model base --rounds 3 --images 32
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from bench_index import CONFIGS, make_gallery  # same folder

from vistamatch.embed import (
    FeedStats,
    NumpyEmbedder,
    TorchEmbedder,
    decoded_batches,
    embedded_batches,
    measure_agreement,
)
from vistamatch.imaging import PreprocessConfig, load_and_preprocess
from vistamatch.model import Dinov2Config, random_state_dict, save_weights

SQUARE = PreprocessConfig(mode="center_crop")  # every image 224x224: one batch shape
GALLERY = PreprocessConfig()  # the default "resize" mode: mixed shapes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=list(CONFIGS), default="small")
    parser.add_argument("--batches", default="8,16", help="batch sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=5, help="alternating calls per embedder and batch size")
    parser.add_argument("--images", type=int, default=48, help="JPEGs in the feed's gallery")
    parser.add_argument("--workers", type=int, default=2, help="the feed's decoding threads")
    return parser.parse_args()


def throughput(embedders: dict, batch: np.ndarray, rounds: int) -> dict[str, list[float]]:
    """{name: [images/s of each call]}, the embedders called in turn, after one warm-up call each."""
    for embedder in embedders.values():
        embedder.embed(batch)
    rates = defaultdict(list)
    for _ in range(rounds):
        for name, embedder in embedders.items():
            start = time.perf_counter()
            embedder.embed(batch)
            rates[name].append(len(batch) / (time.perf_counter() - start))
    return rates


def main() -> None:
    args = parse_args()
    config = Dinov2Config(**CONFIGS[args.model])
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.npz"
        save_weights(random_state_dict(config, seed=0), weights)
        gallery = Path(tmp) / "gallery"
        gallery.mkdir()
        make_gallery(gallery, args.images, np.random.default_rng(0))
        files = sorted(gallery.glob("*.jpg"))

        embedders = {"numpy": NumpyEmbedder.from_weights(weights), "torch": TorchEmbedder.from_weights(weights, device="cpu")}
        import torch

        if torch.cuda.is_available():
            embedders["torch-cuda"] = TorchEmbedder.from_weights(weights, device="cuda")
        for embedder in embedders.values():
            print(embedder.describe())
        if "torch-cuda" not in embedders:
            print("no CUDA GPU here (torch.cuda.is_available() is False): the GPU path is not measured")

        print(f"\n1. throughput, ViT-{args.model[0].upper()} 224x224, {args.rounds} alternating rounds")
        print("| batch | embedder | images/s (median) | best | all |")
        print("|---|---|---|---|---|")
        for b in (int(v) for v in args.batches.split(",")):
            batch = np.concatenate([load_and_preprocess(f, SQUARE) for f in files[:b]])
            for name, rates in throughput(embedders, batch, args.rounds).items():
                spread = " ".join(f"{r:.1f}" for r in rates)
                print(f"| {b} | {name} | {statistics.median(rates):.2f} | {max(rates):.2f} | {spread} |")

        print(f"\n2. agreement with the numpy embedder, {len(files)} gallery photos (resize mode, mixed shapes)")
        bf16 = TorchEmbedder.from_weights(weights, device="cpu", dtype="bfloat16")
        by_shape = defaultdict(list)
        for f in files:
            pixels = load_and_preprocess(f, GALLERY)
            by_shape[pixels.shape].append(pixels)
        for name, other in (("torch float32", embedders["torch"]), ("torch bfloat16 (cpu)", bf16)):
            found = [measure_agreement(embedders["numpy"], other, np.concatenate(group)) for group in by_shape.values()]
            print(
                f"{name}: cosine min {min(a.cosine_min for a in found):.7f}, "
                f"max abs diff {max(a.max_abs for a in found):.2e} ({len(by_shape)} shapes)"
            )

        print(f"\n3. decode share, {len(files)} JPEGs of 512-1600 px")
        start = time.perf_counter()
        for f in files:
            load_and_preprocess(f, GALLERY)
        decode_s = (time.perf_counter() - start) / len(files)
        print(f"decode + preprocess on one thread: {1000 * decode_s:.1f} ms/image")
        print("| embedder | embed ms/image (feed) | decode share (1 thread) | feed end to end images/s | model waited |")
        print("|---|---|---|---|---|")
        for name, embedder in embedders.items():
            stats = FeedStats()
            start = time.perf_counter()
            batches = decoded_batches([(f, f) for f in files], GALLERY, batch_size=16, workers=args.workers, stats=stats)
            for _ in embedded_batches(embedder, batches, stats):
                pass
            total = time.perf_counter() - start
            embed_s = stats.embed_s / stats.images
            print(
                f"| {name} | {1000 * embed_s:.0f} | {decode_s / (decode_s + embed_s):.1%} | "
                f"{stats.images / total:.2f} | {stats.wait_s:.2f} s of {total:.1f} s |"
            )


if __name__ == "__main__":
    main()
