"""A generated gallery with known groups, indexed by the real pipeline, grouped at the default threshold.

Each of the eight sample photos comes as the original (JPEG q95), a half-size copy, re-encodings at
quality 40 and 15 and a slight crop (3 % off each side); the astronaut also has a byte-identical
copy. The truth: one group per photo, the original keeping. The weights are random with the real
architecture, 64 wide and 4 layers deep: at that size random features already tell these copies
(cosine >= 0.989 here) from other photos (<= 0.949), whereas the 32-wide 2-layer test model scores
distinct photos up to 0.985, above any useful threshold.
"""

import io
import json
import os
from contextlib import redirect_stdout

import pytest

from vistamatch.cli import main
from vistamatch.duplicates import DEFAULT_THRESHOLD

VARIANTS = ("small", "q40", "q15", "crop")


def jpeg(img, quality):
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from vistamatch.model import Dinov2Config, random_state_dict, save_weights

    config = Dinov2Config(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=128)
    path = tmp_path_factory.mktemp("weights") / "random-64x4.npz"
    save_weights(random_state_dict(config, seed=0), path)
    return path


@pytest.fixture(scope="module")
def gallery(tmp_path_factory, photos):
    root = tmp_path_factory.mktemp("known") / "gallery"
    truth = {}
    for name, img in photos.items():
        w, h = img.size
        cut = (w // 33, h // 33, w - w // 33, h - h // 33)
        files = {
            f"photos/{name}.jpg": jpeg(img, 95),
            f"edits/{name}_small.jpg": jpeg(img.resize((w // 2, h // 2)), 90),
            f"edits/{name}_q40.jpg": jpeg(img, 40),
            f"edits/{name}_q15.jpg": jpeg(img, 15),
            f"edits/{name}_crop.jpg": jpeg(img.crop(cut), 90),
        }
        if name == "astronaut":
            files["backup/astronaut.jpg"] = files["photos/astronaut.jpg"]
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        truth[f"photos/{name}.jpg"] = sorted(set(files) - {f"photos/{name}.jpg"})
    os.utime(root / "photos/astronaut.jpg", ns=(10**15, 10**15))  # the copy has the same pixels and size: the older keeps
    return root, truth


@pytest.fixture(scope="module")
def report(gallery, weights, tmp_path_factory):
    root, _ = gallery
    idx = tmp_path_factory.mktemp("known-index")
    files = ["--features", idx / "f.npy", "--mapping", idx / "m.npy", "--manifest", idx / "manifest.json"]
    assert main([str(a) for a in ("index", root, "--weights", weights, *files, "--quiet")]) == 0
    out = io.StringIO()
    with redirect_stdout(out):  # a module fixture: capsys is per test
        assert main([str(a) for a in ("duplicates", *files, "--json")]) == 0
    return json.loads(out.getvalue())


def test_every_known_group_is_found_at_the_default_threshold(gallery, report):
    _, truth = gallery
    assert report["threshold"] == DEFAULT_THRESHOLD
    found = {g["keeper"]["path"]: sorted(d["path"] for d in g["duplicates"]) for g in report["groups"]}
    assert found == truth


def test_the_byte_identical_copy_is_marked_exact_and_the_others_are_not(report):
    astronaut = next(g for g in report["groups"] if g["keeper"]["path"] == "photos/astronaut.jpg")
    exact = {d["path"]: d["exact"] for d in astronaut["duplicates"]}
    assert exact.pop("backup/astronaut.jpg") is True
    assert not any(exact.values())


def test_every_member_is_within_the_threshold_of_its_keeper(report):
    scores = [d["similarity"] for g in report["groups"] for d in g["duplicates"]]
    assert len(scores) == 8 * len(VARIANTS) + 1
    assert min(scores) >= DEFAULT_THRESHOLD
