"""Server memory under parallel uploads of small files that decode huge, on this tree and on another.

Starts `vistamatch serve` (tiny random weights, a two-photo gallery) in its own process on loopback,
once with this tree's code and once with ``--other-src`` (e.g. /work/main/src) on PYTHONPATH, and
sends to each, ``--uploads`` at once:
  huge-webp  the 38-byte lossless 9000 x 9000 WebP (about 1.2 GB when decoded in full)
  png-12mp   a 4000 x 3000 PNG (within the default decode budget: it is searched)
Printed per server and case: VmHWM (peak resident memory) and VmRSS before, VmHWM after, VmRSS one
second after, wall time, and the status codes.

Each server runs under an address-space limit (``--max-gb``, default 16) so an unbounded decode
cannot take the machine down: hitting it shows as "not enough memory" answers and a peak near it.

    python benchmarks/bench_upload_memory.py --other-src /work/main/src
    python benchmarks/bench_upload_memory.py              # this tree only
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
HUGE_WEBP = bytes.fromhex("524946461e000000574542505650384c110000002f27e3c9080750bc2217a5ff8188e87f0000")


def png_12mp() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    gradient = np.linspace(0, 255, 4000, dtype=np.uint8)
    pixels = np.stack([np.tile(gradient, (3000, 1))] * 3, axis=-1)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def make_fixture(folder: Path) -> tuple[Path, Path]:
    sys.path.insert(0, str(REPO / "src"))
    from skimage import data
    from PIL import Image

    from vistamatch.model import Dinov2Config, random_state_dict, save_weights

    gallery = folder / "gallery"
    gallery.mkdir()
    Image.fromarray(data.astronaut()).save(gallery / "astronaut.jpg")
    Image.fromarray(data.coffee()).save(gallery / "coffee.png")
    weights = folder / "tiny.npz"
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    save_weights(random_state_dict(config, seed=0), weights)
    return gallery, weights


def vm(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) // 1024
    return fields


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(src: Path, gallery: Path, weights: Path, data: Path, max_gb: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "vistamatch", "serve", "--gallery", str(gallery), "--port", str(port),
        "--weights", str(weights), "--features", str(data / "gallery_features.npy"),
        "--mapping", str(data / "gallery_mapping.npy"), "--history", str(data / "search_history.json"), "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(src), "VISTAMATCH_THUMBS_DIR": str(data / "thumbs")}
    limit = int(max_gb * 1024**3)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.Popen(cmd, cwd=data.parent, env=env, preexec_fn=limit_memory, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on {src} exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            if httpx.get(f"{url}/api/health", timeout=2).json()["ready"]:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server on {src} did not become ready")


def run_case(proc: subprocess.Popen, url: str, name: str, payload: bytes, uploads: int, timeout: float) -> None:
    before = vm(proc.pid)

    def upload(_):
        try:
            r = httpx.post(f"{url}/api/search", files={"image": (name, payload, "application/octet-stream")}, timeout=timeout)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return r.status_code

    start = time.perf_counter()
    with ThreadPoolExecutor(uploads) as pool:
        codes = list(pool.map(upload, range(uploads)))
    wall = time.perf_counter() - start
    peak = vm(proc.pid)["VmHWM"] if proc.poll() is None else None
    time.sleep(1.0)
    rss_after = vm(proc.pid)["VmRSS"] if proc.poll() is None else None
    counts = ", ".join(f"{code} x{n}" for code, n in collections.Counter(codes).items())
    print(
        f"  {name:<10} VmHWM {before['VmHWM']:>6} -> {peak} MB   VmRSS {before['VmRSS']:>6} -> {rss_after} MB (1 s after)"
        f"   wall {wall:6.2f} s   status {counts}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other-src", type=Path, help="another tree's src folder to compare with (e.g. /work/main/src)")
    parser.add_argument("--uploads", type=int, default=8, help="uploads sent at once (default 8)")
    parser.add_argument("--max-gb", type=float, default=16.0, help="address-space limit of each server (default 16)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds an upload may take (default 300)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        gallery, weights = make_fixture(Path(tmp))
        cases = [("huge-webp", HUGE_WEBP), ("png-12mp", png_12mp())]
        trees = [("this tree", REPO / "src")] + ([("other", args.other_src)] if args.other_src else [])
        for label, src in trees:
            data = Path(tmp) / f"data-{len(label)}-{label.replace(' ', '_')}"
            data.mkdir()
            print(f"{label} ({src}), {args.uploads} parallel uploads per case:", flush=True)
            for name, payload in cases:
                proc, url = serve(src, gallery, weights, data, args.max_gb)  # a fresh server per case: its own peak
                try:
                    run_case(proc, url, name, payload, args.uploads, args.timeout)
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)


if __name__ == "__main__":
    main()
