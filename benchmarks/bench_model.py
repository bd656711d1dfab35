"""Speed of the NumPy DINOv2 against transformers' Dinov2Model (PyTorch eager), on the same CPU.

Both run ViT-B/14 sizes with the same random weights (seeded) and the same inputs, limited to the
same number of threads: OMP/OPENBLAS/MKL_NUM_THREADS are set before NumPy and torch are imported,
and torch.set_num_threads() is called. Each side runs in its own process (torch's OpenMP threads
keep spinning after a call and would slow whatever runs next in the same process); the processes
take turns (ours, torch, ours, torch, ...) so noise from other programs hits both alike.

Ours runs once per kernel backend (vistamatch.model.kernels): "numpy" always, "mkl" when the
optional `mkl` package is installed (pip install 'vistamatch[mkl]'). Printed per input shape and
batch: median ms per image of each, the ratio of the medians ours / torch, the ratio of the fastest
runs, and the max abs difference of the CLS outputs.

    python benchmarks/bench_model.py --threads 2 --repeat 5 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="threads for both (default 2)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="timed runs per case and round (default 5)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="turns each side takes (default 2)"
    )
    parser.add_argument(
        "--batches", default="1,8", help="comma-separated batch sizes (default 1,8)"
    )
    parser.add_argument(
        "--shapes",
        default="224x224,224x308",
        help="comma-separated HxW (default 224x224,224x308)",
    )
    parser.add_argument(
        "--layers", type=int, default=12, help="encoder layers (ViT-B: 12)"
    )
    parser.add_argument(
        "--backends",
        default="numpy,mkl",
        help="our kernel backends to time, those installed (default numpy,mkl)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args()


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import statistics
import time

import numpy as np


def cases() -> list[tuple[int, int, int]]:
    shapes = [tuple(int(v) for v in s.split("x")) for s in ARGS.shapes.split(",")]
    return [
        (b, h, w) for h, w in shapes for b in (int(v) for v in ARGS.batches.split(","))
    ]


def worker(side: str, out: Path) -> None:
    """Time one side on every case; write {case: {"ms": [...], "cls": [[...]]}} as JSON."""
    from vistamatch.model import Dinov2, Dinov2Config, random_state_dict

    config = Dinov2Config(
        hidden_size=768,
        num_hidden_layers=ARGS.layers,
        num_attention_heads=12,
        intermediate_size=3072,
    )
    weights = random_state_dict(config, seed=0)
    if side != "torch":
        model = Dinov2(weights, config, threads=ARGS.threads, backend=side)
        assert model.backend == side
        info = "our thread pool" if model.threads > 1 else "BLAS threads"
        run = model
    else:
        import torch
        from transformers import Dinov2Config as HFConfig
        from transformers import Dinov2Model

        from vistamatch.model.keys import released_to_transformers5

        torch.set_num_threads(ARGS.threads)
        ref = Dinov2Model(
            HFConfig(
                hidden_size=768,
                num_hidden_layers=ARGS.layers,
                num_attention_heads=12,
                image_size=518,
            )
        )
        ref.load_state_dict(
            {
                k: torch.from_numpy(v)
                for k, v in released_to_transformers5(weights).items()
            }
        )
        ref.eval()
        info = f"torch {torch.__version__}, {ref.config._attn_implementation} attention"

        def run(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return ref(pixel_values=torch.from_numpy(x)).pooler_output.numpy()

    results: dict = {"info": info}
    for b, h, w in cases():
        x = np.random.default_rng(1).standard_normal((b, 3, h, w)).astype(np.float32)
        cls = run(x)  # also the warm-up
        times = []
        for _ in range(ARGS.repeat):
            start = time.perf_counter()
            run(x)
            times.append((time.perf_counter() - start) * 1000 / b)
        results[f"{b}x{h}x{w}"] = {"ms": times, "cls": np.asarray(cls).tolist()}
    out.write_text(json.dumps(results))


def main() -> int:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        print(
            f"needs torch and transformers for the reference ({exc}); pip install -e '.[parity]'"
        )
        return 1
    ours = available_backends()
    sides = ours + ["torch"]
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    cls: dict[str, dict[str, np.ndarray]] = {side: {} for side in sides}
    info = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(ARGS.rounds):
            for side in sides:
                out = Path(tmp) / f"{side}{round_}.json"
                cmd = [sys.executable, __file__, "--worker", side, "--out", str(out)]
                subprocess.run(cmd + _passthrough(), check=True)
                result = json.loads(out.read_text())
                info[side] = result.pop("info")
                for case, r in result.items():
                    times[side].setdefault(case, []).extend(r["ms"])
                    cls[side][case] = np.asarray(r["cls"], np.float32)
    print(
        f"ViT-B/14 ({ARGS.layers} layers), random weights; threads={ARGS.threads}; numpy {np.__version__} "
        f"({info[ours[0]]}); {info['torch']}; {ARGS.rounds} rounds x {ARGS.repeat} runs, separate processes"
    )
    print(
        f"{'input':>10} {'batch':>5} {'ours':>6} {'ours ms/img':>12} {'torch ms/img':>13} {'ours/torch':>11} "
        f"{'(fastest)':>10} {'max|diff|':>10}"
    )
    for b, h, w in cases():
        case = f"{b}x{h}x{w}"
        mt = statistics.median(times["torch"][case])
        for side in ours:
            mo = statistics.median(times[side][case])
            fastest = min(times[side][case]) / min(times["torch"][case])
            diff = float(np.abs(cls[side][case] - cls["torch"][case]).max())
            print(
                f"{f'{h}x{w}':>10} {b:>5} {side:>6} {mo:>12.1f} {mt:>13.1f} {mo / mt:>11.2f} {fastest:>10.2f} "
                f"{diff:>10.1e}"
            )
    return 0


def available_backends() -> list[str]:
    from vistamatch.model.kernels import select_kernels

    wanted = ARGS.backends.split(",")
    installed = {"numpy", select_kernels("auto").name}  # auto is mkl wherever MKL loads
    found = [b for b in wanted if b in installed]
    for missing in sorted(set(wanted) - set(found)):
        print(
            f"backend {missing!r} is not installed here: skipped (pip install 'vistamatch[{missing}]')"
        )
    return found


def _passthrough() -> list[str]:
    return [
        "--threads",
        str(ARGS.threads),
        "--repeat",
        str(ARGS.repeat),
        "--batches",
        ARGS.batches,
        "--shapes",
        ARGS.shapes,
        "--layers",
        str(ARGS.layers),
        "--backends",
        ARGS.backends,
    ]


if __name__ == "__main__":
    if ARGS.worker:
        worker(ARGS.worker, Path(ARGS.out))
        sys.exit(0)
    sys.exit(main())
