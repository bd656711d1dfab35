"""The decode budget: small files that decode huge are refused from their header, JPEGs are
decoded at reduced scale to fit, large decodes run two at a time, gallery files over budget are skipped."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image, ImageFile

from vistamatch.errors import DecodeBudgetError, ImageLoadError, VistaMatchError
from vistamatch.imaging import PreprocessConfig, decode_image, decoding, load_and_preprocess, target_size
from vistamatch.imaging import budget as budget_module
from vistamatch.imaging.budget import BUDGET_ENV, MB, decode_budget_from_env

from .helpers import encode


@pytest.fixture
def png_of_zeros(zeros_png):
    return zeros_png


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Records every pixel decode (ImageFile.load with pixels still to read) by format."""
    seen: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self):
        if self.tile:
            seen.append(self.format)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return seen


@pytest.mark.parametrize("name", ["9000x9000.webp", "9400x9400.png", "89Mx1.png"])
def test_small_files_that_decode_huge_are_refused_before_decoding(huge_images, loads, name):
    with pytest.raises(DecodeBudgetError) as caught:
        load_and_preprocess(huge_images[name], name=name)
    assert loads == []  # refused from the header: no pixel decoded
    message = str(caught.value)
    width, height = name.split(".")[0].replace("89M", "89000000").split("x")
    assert message.startswith(f"{name}: image too large to decode: {width} x {height} pixels need ")
    assert "over the decode budget of 256 MB" in message and BUDGET_ENV in message
    assert isinstance(caught.value, ImageLoadError) and caught.value.damaged


def test_webp_counts_the_decoders_own_canvases(huge_images):
    # 81M pixels x 4 bytes x 4 buffers (libwebp's two canvases, the frame bytes, Pillow's image)
    with pytest.raises(DecodeBudgetError, match=r"need 1236 MB"):
        decode_image(huge_images["9000x9000.webp"])


def test_a_raised_budget_decodes_what_the_default_refuses(loads, png_of_zeros):
    png = png_of_zeros(3000, 2000)  # 6M pixels x (4 stored + 0 conversion) = 22.9 MB
    with pytest.raises(DecodeBudgetError, match=r"3000 x 2000 pixels need 23 MB, over the decode budget of 20 MB"):
        decode_image(png, budget=20 * MB)
    assert loads == []
    assert decode_image(png, budget=24 * MB).image.size == (3000, 2000)
    assert loads == ["PNG"]


def test_an_over_budget_jpeg_is_decoded_at_reduced_scale(photos):
    jpeg = encode(photos["astronaut"].resize((2048, 1536)), "JPEG", quality=90)  # 12 MB decoded (4 bytes/pixel)
    decoded = decode_image(jpeg, budget=4 * MB)  # 1/2 scale: 3 MB
    assert decoded.image.size == (1024, 768) and decoded.full_size == (2048, 1536)
    pixels = load_and_preprocess(jpeg, budget=4 * MB)
    assert pixels.shape[2:] == target_size(2048, 1536, PreprocessConfig())[::-1]
    assert decode_image(jpeg, budget=200_000).image.size == (256, 192)  # 1/8 scale: 192 KB
    with pytest.raises(DecodeBudgetError, match=r"even at 1/8 scale"):
        decode_image(jpeg, budget=100_000)


def test_the_budget_comes_from_the_environment(monkeypatch, png_of_zeros):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert decode_budget_from_env() == 256 * MB
    monkeypatch.setenv(BUDGET_ENV, "1.5")
    assert decode_budget_from_env() == int(1.5 * MB)
    with pytest.raises(DecodeBudgetError, match="decode budget of 1.5 MB"):
        decode_image(png_of_zeros(700, 700))  # 1.9 MB
    for bad in ("lots", "0", "-3", "nan"):
        monkeypatch.setenv(BUDGET_ENV, bad)
        with pytest.raises(VistaMatchError, match=BUDGET_ENV):
            decode_budget_from_env()


def test_alpha_and_gray_count_their_conversion_copies():
    rgba = Image.open(_png_file(Image.new("RGBA", (100, 100))))
    gray = Image.open(_png_file(Image.new("L", (100, 100))))
    assert budget_module.decode_bytes_per_pixel(rgba, transposed=False) == 4 + 4  # + the RGB result
    assert budget_module.decode_bytes_per_pixel(gray, transposed=True) == 1 + 1 + 4  # + upright + RGB


def _png_file(img: Image.Image):
    import io

    return io.BytesIO(encode(img, "PNG"))


def test_large_decodes_run_two_at_a_time(monkeypatch, png_of_zeros):
    running, peak, lock = 0, 0, threading.Lock()
    original = ImageFile.ImageFile.load

    def slow_load(self):
        nonlocal running, peak
        if not self.tile:
            return original(self)
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.15)
        try:
            return original(self)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(ImageFile.ImageFile, "load", slow_load)

    def peak_of(data: bytes) -> int:
        nonlocal peak
        peak = 0
        threads = [threading.Thread(target=decode_image, args=(data,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return peak

    assert peak_of(png_of_zeros(2500, 2000)) == 2  # 19 MB each: large
    assert peak_of(png_of_zeros(100, 100)) > 2  # small decodes take no slot


def test_memory_is_handed_back_after_a_large_decode_only(monkeypatch, png_of_zeros):
    trims = []
    monkeypatch.setattr(budget_module, "_malloc_trim", trims.append)
    decode_image(png_of_zeros(100, 100))
    assert trims == []
    decode_image(png_of_zeros(2500, 2000))
    assert trims == [0]


def test_decoding_keeps_the_slot_for_the_block_and_closes_the_image(png_of_zeros):
    large = png_of_zeros(2500, 2000)
    with decoding(large) as first, decoding(large) as second:
        assert first.image.size == second.image.size == (2500, 2000)
        assert not budget_module._large_slots.acquire(blocking=False)  # both slots held
    assert budget_module._large_slots.acquire(blocking=False)
    budget_module._large_slots.release()
    with pytest.raises(ValueError, match="closed image"):
        first.image.load()


def test_an_over_budget_gallery_file_is_skipped_and_reported(tmp_path, photos, huge_images, tiny_weights):
    from vistamatch.index import IndexPaths, build_index, open_index
    from vistamatch.model import load_model

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    photos["coffee"].save(gallery / "coffee.jpg")
    for name, data in huge_images.items():
        (gallery / name).write_bytes(data)
    paths = IndexPaths.in_dir(tmp_path / "index")
    report = build_index(gallery, load_model(tiny_weights), paths, progress=False)
    skipped = {r.path: r.reason for r in report.skipped}
    assert sorted(skipped) == sorted(huge_images)
    assert all("over the decode budget" in reason for reason in skipped.values())
    assert list(open_index(paths).relative_paths) == ["coffee.jpg"]
