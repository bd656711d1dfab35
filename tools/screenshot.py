"""Take the README's screenshot of the results page: docs/screenshot.png.

Builds a demo gallery from scikit-image's sample photos (each also mirrored and cropped, so a
search has real near matches), runs `vistamatch serve` on a free loopback port, uploads a query
in headless Chromium and saves the page. Everything but the PNG lives in a temporary folder.

    python tools/screenshot.py                       # tiny random weights: the layout, not the ranking
    python tools/screenshot.py --weights vit-dinov2-base.npz --dark --out /tmp/shot.png
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
# scikit-image photos shipped in its wheel (no download).
SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "colorwheel", "camera", "coins",
           "horse", "clock", "hubble_deep_field", "retina", "brick", "grass", "gravel", "moon", "page", "text")


def sample(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(np.ascontiguousarray(getattr(data, name)())).convert("RGB")


def make_gallery(folder: Path) -> Path:
    """Each sample photo, mirrored, and cropped to its centre: three files per photo."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        img = sample(name)
        w, h = img.size
        img.save(folder / f"{name}.jpg", quality=92)
        ImageOps.mirror(img).save(folder / f"{name}_mirrored.jpg", quality=92)
        img.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(folder / f"{name}_crop.jpg", quality=92)
    return folder


def make_query(path: Path) -> Path:
    """The cat, tilted and cropped: close to three gallery files, equal to none."""
    img = sample("chelsea").rotate(6, resample=Image.BICUBIC, expand=False)
    w, h = img.size
    img.crop((w // 10, h // 10, w - w // 10, h - h // 10)).save(path, quality=90)
    return path


def tiny_weights(path: Path) -> Path:
    from vistamatch.model import Dinov2Config, random_state_dict, save_weights

    config = Dinov2Config(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128)
    save_weights(random_state_dict(config, seed=0), path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(gallery: Path, weights: Path, work: Path, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        GALLERY_FEATURES_PATH=str(work / "gallery_features.npy"),
        GALLERY_MAPPING_PATH=str(work / "gallery_mapping.npy"),
        GALLERY_MANIFEST_PATH=str(work / "gallery_manifest.json"),
        HISTORY_PATH=str(work / "search_history.json"),
        VISTAMATCH_THUMBS_DIR=str(work / "thumbs"),
    )
    cmd = [sys.executable, "-m", "vistamatch", "serve", "--gallery", str(gallery), "--weights", str(weights),
           "--port", str(port), "--quiet"]
    return subprocess.Popen(cmd, env=env)


def wait_ready(base: str, server: subprocess.Popen, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2).json().get("ready"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not get ready in time")


def shoot(base: str, query: Path, out: Path, dark: bool, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                      color_scheme="dark" if dark else "light", reduced_motion="reduce")
        page = context.new_page()
        page.goto(base)
        page.get_by_test_id("file-input").set_input_files(query)
        page.get_by_test_id("topk").fill("24")
        page.get_by_test_id("search-btn").click()
        page.get_by_test_id("result").first.wait_for()
        # Every thumbnail in view decoded before the shot.
        page.wait_for_function("""() => [...document.querySelectorAll('[data-testid=result] img')]
            .filter(i => i.getBoundingClientRect().top < innerHeight).every(i => i.complete && i.naturalWidth > 0)""")
        page.wait_for_timeout(300)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, help="DINOv2 weights (default: tiny random weights)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    parser.add_argument("--size", default="1440x1000", help="viewport WIDTHxHEIGHT (default 1440x1000)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory(prefix="vistamatch-shot-") as tmp:
        work = Path(tmp)
        gallery = make_gallery(work / "gallery")
        weights = args.weights or tiny_weights(work / "tiny-dinov2.npz")
        port = free_port()
        server = serve(gallery, weights, work, port)
        try:
            base = f"http://127.0.0.1:{port}/"
            wait_ready(base.rstrip("/"), server)
            shoot(base, make_query(work / "cat.jpg"), args.out, args.dark, width, height)
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
