"""The feed: decoding overlaps the embedder, batches keep the input order, bad images are reported."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vistamatch.embed import FeedStats, NumpyEmbedder, decoded_batches, embedded_batches
from vistamatch.embed import feed as feed_module
from vistamatch.embed.feed import ordered_map
from vistamatch.imaging import PreprocessConfig, load_and_preprocess

CONFIG = PreprocessConfig(size=56)
WAIT_S = 20  # only reached when the test fails


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory, photos):
    """The sample photos as JPEGs: four of one size, then the rest as they are (other shapes)."""
    root = tmp_path_factory.mktemp("feed")
    paths = []
    for i, (name, img) in enumerate(photos.items()):
        if i < 4:
            img = img.resize((160, 120))
        path = root / f"{i}-{name}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def embedder(tiny_weights):
    return NumpyEmbedder.from_weights(tiny_weights, threads=1)


def test_batches_keep_the_input_order(photo_files):
    same = photo_files[:4]
    batches = list(decoded_batches(((p.name, p) for p in same), CONFIG, batch_size=3, workers=2))
    assert [keys for keys, _ in batches] == [[p.name for p in same[:3]], [same[3].name]]
    for keys, pixels in batches:
        for key, row in zip(keys, pixels):
            path = next(p for p in same if p.name == key)
            np.testing.assert_array_equal(row, load_and_preprocess(path, CONFIG)[0])


def test_every_image_is_embedded_once_whatever_its_shape(photo_files, embedder):
    stats = FeedStats()
    items = [(str(p), p) for p in photo_files]
    batches = decoded_batches(items, CONFIG, batch_size=2, workers=2, stats=stats)
    out = list(embedded_batches(embedder, batches, stats))
    keys = [k for ks, _ in out for k in ks]
    assert sorted(keys) == sorted(k for k, _ in items) and stats.images == len(items)
    vectors = {k: v for ks, vs in out for k, v in zip(ks, vs)}
    for key, path in items:
        alone = embedder.embed(load_and_preprocess(path, CONFIG))[0]
        np.testing.assert_allclose(vectors[key], alone, atol=1e-5)
    assert stats.decode_s > 0 and stats.embed_s > 0 and not stats.skipped


def test_unreadable_images_are_skipped_and_reported(tmp_path, photo_files, embedder):
    data = photo_files[0].read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "notes.jpg").write_text("not a picture")
    items = [
        ("good", photo_files[0]),
        ("truncated", tmp_path / "truncated.jpg"),
        ("text", tmp_path / "notes.jpg"),
        ("missing", tmp_path / "gone.jpg"),
        ("bytes", photo_files[1].read_bytes()),
    ]
    stats = FeedStats()
    out = list(embedded_batches(embedder, decoded_batches(items, CONFIG, batch_size=4, workers=2, stats=stats)))
    assert [k for ks, _ in out for k in ks] == ["good", "bytes"]
    reasons = dict(stats.skipped)
    assert list(reasons) == ["truncated", "text", "missing"]
    assert "truncated" in reasons["truncated"] and "not an image" in reasons["text"]
    assert reasons["missing"]


def test_decoding_goes_on_while_the_embedder_works(monkeypatch, photo_files):
    """An image of the second batch is decoded while the first batch is being embedded: its decoding
    waits until the embedding has begun, and the embedding until that decoding has begun. Decoding
    and embedding in turn, or decoding everything first, would each time out on one side."""
    embedding, later_decoding = threading.Event(), threading.Event()
    seen = {}
    real = feed_module.load_and_preprocess

    def decode(source, config, name):
        if name == "later":
            later_decoding.set()
            seen["embedding began while decoding"] = embedding.wait(timeout=WAIT_S)
        return real(source, config, name=name)

    class WaitingEmbedder:
        name, dim, device, fingerprint = "waiting", 1, "cpu", "-"

        def embed(self, batch):
            embedding.set()
            seen.setdefault("decoding went on while embedding", later_decoding.wait(timeout=WAIT_S))
            return np.ones((len(batch), 1), np.float32)

    monkeypatch.setattr(feed_module, "load_and_preprocess", decode)
    items = [(f"first{i}", photo_files[0]) for i in range(2)] + [("later", photo_files[0])]
    out = list(embedded_batches(WaitingEmbedder(), decoded_batches(items, CONFIG, batch_size=2, workers=2)))
    assert [ks for ks, _ in out] == [["first0", "first1"], ["later"]]
    assert seen == {"embedding began while decoding": True, "decoding went on while embedding": True}


def test_ordered_map_keeps_order_when_later_items_finish_first():
    def slow_first(i: int) -> int:
        time.sleep(0.02 * (5 - i))
        return i * i

    assert list(ordered_map(slow_first, range(6), workers=3, ahead=4)) == [i * i for i in range(6)]
