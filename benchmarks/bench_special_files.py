"""Time of ``vistamatch index`` on a small gallery that holds a FIFO, a socket and a link to a device.

Each run is a fresh ``vistamatch index`` subprocess (tiny random weights, a new index folder) on
the same gallery: 24 small JPEGs plus ``x.jpg`` (a FIFO), ``s.jpg`` (a unix socket) and ``z.png``
(a link to /dev/null; /dev/zero would make the old code take all the machine's memory). A run
still going after ``--kill-after`` seconds is killed and reported as such (before "only regular
files", a FIFO blocked the indexer forever). ``--baseline`` times another checkout's code on the
same gallery, e.g. the main branch:

    python benchmarks/bench_special_files.py
    python benchmarks/bench_special_files.py --baseline /work/main/src
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vistamatch.model import Dinov2Config, random_state_dict, save_weights

THIS_SRC = Path(__file__).resolve().parents[1] / "src"
TINY = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def make_gallery(root: Path, count: int) -> None:
    from skimage import data

    photo = Image.fromarray(np.ascontiguousarray(data.astronaut())).convert("RGB")
    root.mkdir()
    for i in range(count):
        photo.crop((i * 7, i * 5, 300 + i * 7, 240 + i * 5)).save(root / f"{i:03d}.jpg", quality=90)
    os.mkfifo(root / "x.jpg")
    (root / "z.png").symlink_to("/dev/null")
    cwd = os.getcwd()
    os.chdir(root)  # a relative name: socket paths are limited to ~100 bytes
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind("s.jpg")
    finally:
        os.chdir(cwd)


def time_index(src: Path, gallery: Path, weights: Path, out: Path, kill_after: float) -> float | None:
    """Seconds of one `vistamatch index` run with the package from ``src``; None if it was killed."""
    cmd = [sys.executable, "-m", "vistamatch", "index", str(gallery), "--weights", str(weights), "--quiet"]
    cmd += ["--features", str(out / "gallery_features.npy"), "--mapping", str(out / "gallery_mapping.npy")]
    env = {**os.environ, "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=kill_after)
    except subprocess.TimeoutExpired:  # run() kills the child
        return None
    if done.returncode != 0:
        raise SystemExit(f"vistamatch index failed with {src}:\n{done.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="src folder of another checkout to time as well")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kill-after", type=float, default=20.0, help="seconds before a run is killed (default 20)")
    args = parser.parse_args()

    trees = [("this tree", THIS_SRC)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_gallery(tmp / "gallery", args.images)
        weights = tmp / "tiny.npz"
        save_weights(random_state_dict(TINY, seed=0), weights)
        print(f"gallery: {args.images} JPEGs + a FIFO, a socket, a link to /dev/null; {args.runs} runs each")
        for label, src in trees:
            times = [time_index(src, tmp / "gallery", weights, tmp / f"idx-{label}-{i}", args.kill_after) for i in range(args.runs)]
            if any(t is None for t in times):
                killed = sum(t is None for t in times)
                print(f"  {label} ({src}): killed after {args.kill_after:g} s ({killed} of {args.runs} runs)")
            else:
                shown = ", ".join(f"{t:.2f}" for t in times)
                print(f"  {label} ({src}): median {statistics.median(times):.2f} s (runs: {shown})")


if __name__ == "__main__":
    main()
