"""Speed of the NumPy DINOv2 against transformers' Dinov2Model (PyTorch eager), side by side.

Both run ViT-B/14 sizes with the same random weights and inputs, limited to the same number of
threads: OMP/OPENBLAS/MKL_NUM_THREADS are set before NumPy and torch are imported, and
torch.set_num_threads() is called. Runs alternate (ours, torch, ours, ...) so machine noise hits
both alike. Printed: median ms per image of each, the ratio of the medians ours / torch, and the
ratio of the fastest runs (less sensitive to other processes on a shared machine).

    python benchmarks/bench_model.py --threads 2 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--shapes", default="224x224,224x308", help="comma-separated HxW (default 224x224,224x308)")
    parser.add_argument("--layers", type=int, default=12, help="encoder layers (ViT-B: 12)")
    return parser.parse_args()


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def main() -> int:
    try:
        import torch
        from transformers import Dinov2Config as HFConfig
        from transformers import Dinov2Model
    except ImportError as exc:
        print(f"needs torch and transformers for the reference ({exc}); pip install -e '.[parity]'")
        return 1
    from vistamatch.model import Dinov2, Dinov2Config, random_state_dict
    from vistamatch.model.keys import released_to_transformers5

    torch.set_num_threads(ARGS.threads)
    config = Dinov2Config(hidden_size=768, num_hidden_layers=ARGS.layers, num_attention_heads=12, intermediate_size=3072)
    weights = random_state_dict(config, seed=0)
    ours = Dinov2(weights, config, threads=ARGS.threads)
    ref = Dinov2Model(HFConfig(hidden_size=768, num_hidden_layers=ARGS.layers, num_attention_heads=12, image_size=518))
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in released_to_transformers5(weights).items()})
    ref.eval()

    def run_torch(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return ref(pixel_values=torch.from_numpy(x)).pooler_output.numpy()

    mode = "our thread pool, BLAS at 1 thread" if ours._runner.parallel else "BLAS threads"
    print(f"ViT-B/14 ({ARGS.layers} layers), random weights; threads={ARGS.threads} ({mode}); numpy {np.__version__}, "
          f"torch {torch.__version__} ({ref.config._attn_implementation} attention); median of {ARGS.repeat}")
    print(f"{'input':>10} {'batch':>5} {'ours ms/img':>12} {'torch ms/img':>13} {'ours/torch':>11} {'(fastest)':>10} "
          f"{'max|diff|':>10}")
    for shape in ARGS.shapes.split(","):
        h, w = (int(v) for v in shape.split("x"))
        for batch in (int(b) for b in ARGS.batches.split(",")):
            x = np.random.default_rng(1).standard_normal((batch, 3, h, w)).astype(np.float32)
            diff = float(np.abs(ours(x) - run_torch(x)).max())  # also the warm-up
            times: dict[str, list[float]] = {"ours": [], "torch": []}
            for _ in range(ARGS.repeat):
                for name, fn in (("ours", ours), ("torch", run_torch)):
                    start = time.perf_counter()
                    fn(x)
                    times[name].append((time.perf_counter() - start) * 1000 / batch)
            mo, mt = statistics.median(times["ours"]), statistics.median(times["torch"])
            fastest = min(times["ours"]) / min(times["torch"])
            print(f"{shape:>10} {batch:>5} {mo:>12.1f} {mt:>13.1f} {mo / mt:>11.2f} {fastest:>10.2f} {diff:>10.1e}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
