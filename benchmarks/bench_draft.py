"""JPEG draft decoding: how much it changes the model input, and how much time it saves.

For large JPEGs, libjpeg can decode at 1/2, 1/4 or 1/8 scale (Pillow's draft mode). This
script compares, for each rule "keep the short side >= k x 224", the preprocessed tensor
against a full decode (max and mean absolute difference, normalised units; one 8-bit step
is 1/255/std ~ 0.017) and the time of decode + preprocess.

Test images: mosaics of scikit-image's sample photos and textures at native resolution,
which have detail down to the pixel (harder than most camera photos), saved as JPEG q=90,
at phone and camera sizes, some with odd sizes and EXIF rotation; plus a smooth upscaled photo.

    python benchmarks/bench_draft.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image
from skimage import data

from vistamatch.imaging import PreprocessConfig, decode_image, preprocess, preprocess_decoded

TILES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "brick", "grass",
         "gravel", "immunohistochemistry", "coins", "camera")
FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0)


def mosaic(width: int, height: int, seed: int = 0) -> Image.Image:
    """Native-resolution sample images tiled (randomly flipped) over a width x height canvas."""
    rng = np.random.default_rng(seed)
    tiles = [Image.fromarray(np.ascontiguousarray(getattr(data, name)())).convert("RGB") for name in TILES]
    canvas = Image.new("RGB", (width, height))
    y = 0
    while y < height:
        x, row_h = 0, 0
        while x < width:
            tile = tiles[rng.integers(len(tiles))]
            if rng.integers(2):
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            canvas.paste(tile, (x, y))
            x, row_h = x + tile.width, max(row_h, tile.height)
        y += row_h
    return canvas


def jpeg_bytes(img: Image.Image, orientation: int = 1, progressive: bool = False) -> bytes:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, progressive=progressive, exif=exif.tobytes())
    return buf.getvalue()


def cases() -> list[tuple[str, Image.Image, bytes]]:
    """(label, lossless source, JPEG file)."""
    smooth = Image.fromarray(data.astronaut()).resize((3072, 3072), Image.Resampling.BICUBIC)
    specs = [
        ("mosaic 1200x900", mosaic(1200, 900, 1), {}),
        ("mosaic 2048x1536", mosaic(2048, 1536, 2), {}),
        ("mosaic 4032x3024", mosaic(4032, 3024, 3), {}),
        ("mosaic 4001x3001 exif6", mosaic(4001, 3001, 4), {"orientation": 6}),
        ("mosaic 3001x4001 exif3 progr", mosaic(3001, 4001, 5), {"orientation": 3, "progressive": True}),
        ("mosaic 6000x4000", mosaic(6000, 4000, 6), {}),
        ("upscaled photo 3072x3072", smooth, {}),
    ]
    return [(label, img, jpeg_bytes(img, **options)) for label, img, options in specs]


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    worst: dict[tuple[str, float], list[float]] = {}
    jpeg_noise = [0.0, 0.0]
    print(f"{'image':30} {'mode':11} {'rule':>9} {'decoded':>10} {'max abs':>8} {'mean abs':>9} {'ms':>7} {'speedup':>7}")
    for label, source, blob in cases():
        for mode in ("resize", "center_crop"):
            config = PreprocessConfig(mode=mode)

            def run(draft_size):
                decoded = decode_image(blob, draft_size=draft_size)
                return preprocess_decoded(decoded, config), decoded.image.size

            (full, size), full_ms = timed(lambda: run(None), args.repeat)
            if "exif" not in label:  # reference: what JPEG q=90 itself changed in the tensor
                noise = np.abs(preprocess(source, config) - full)
                jpeg_noise[0], jpeg_noise[1] = max(jpeg_noise[0], float(noise.max())), max(jpeg_noise[1], float(noise.mean()))
            print(f"{label:30} {mode:11} {'full':>9} {'%dx%d' % size:>10} {'':8} {'':9} {full_ms:7.1f} {'1.00':>7}")
            for factor in FACTORS:
                draft_size = int(factor * config.size)
                (out, size), ms = timed(lambda: run(draft_size), args.repeat)
                diff = np.abs(out - full)
                stats = worst.setdefault((mode, factor), [0.0, 0.0, 0.0, np.inf])
                stats[0], stats[1] = max(stats[0], float(diff.max())), max(stats[1], float(diff.mean()))
                if size != (full.shape[3], full.shape[2]) and size != Image.open(io.BytesIO(blob)).size:
                    stats[2], stats[3] = max(stats[2], full_ms / ms), min(stats[3], full_ms / ms)
                print(f"{'':30} {'':11} {f'>={factor:g}x':>9} {'%dx%d' % size:>10} {diff.max():8.4f} "
                      f"{diff.mean():9.5f} {ms:7.1f} {full_ms / ms:7.2f}")
    print("\nworst case per rule over all images (speedup range over images that were draft-decoded):")
    for (mode, factor), (max_abs, mean_abs, best, least) in sorted(worst.items()):
        span = f"{least:.2f}-{best:.2f}x" if best else "-"
        print(f"  {mode:11} short side >= {factor:g} x 224: max abs {max_abs:.4f}  mean abs {mean_abs:.5f}  speedup {span}")
    print(f"for scale: saving the lossless source as JPEG q=90 changed the tensor by max abs {jpeg_noise[0]:.4f}, "
          f"mean abs {jpeg_noise[1]:.5f}")


if __name__ == "__main__":
    main()
