"""find_duplicate_groups on an index of real files with controlled vectors."""

import os
import shutil

import numpy as np
import pytest

from vistamatch.duplicates import find_duplicate_groups
from vistamatch.errors import VistaMatchError
from vistamatch.index import open_index

from .helpers import towards, unit, write_index


@pytest.fixture
def gallery(tmp_path, photos):
    """astronaut at 512 px (PNG), resized to 256, re-encoded at quality 30, and an exact copy;
    coffee and its crop; chelsea alone."""
    root = tmp_path / "gallery"
    (root / "sub").mkdir(parents=True)
    photos["astronaut"].save(root / "astronaut.png")
    photos["astronaut"].resize((256, 256)).save(root / "astronaut_small.jpg", quality=90)
    photos["astronaut"].save(root / "astronaut_q30.jpg", quality=30)
    shutil.copy(root / "astronaut.png", root / "sub" / "astronaut_copy.png")
    for copy in ("astronaut.png", "sub/astronaut_copy.png"):  # same pixels, size and age: the shorter path keeps
        os.utime(root / copy, ns=(10**18, 10**18))
    photos["coffee"].save(root / "coffee.jpg", quality=95)
    photos["coffee"].crop((0, 0, 380, 300)).save(root / "coffee_crop.jpg", quality=95)
    photos["chelsea"].save(root / "chelsea.jpg")
    return root


def vectors_for(names, rng):
    base = unit(rng, 3, 16)
    other = unit(rng, 1, 16)[0]
    near = {
        "astronaut.png": base[0],
        "sub/astronaut_copy.png": base[0] * 0.999999,  # same file: cosine 1 up to rounding
        "astronaut_small.jpg": towards(base[0], other, 0.97),
        "astronaut_q30.jpg": towards(base[0], -other, 0.99),
        "coffee.jpg": base[1],
        "coffee_crop.jpg": towards(base[1], other, 0.93),
        "chelsea.jpg": base[2],
    }
    return np.stack([near[n] for n in names])


@pytest.fixture
def index(tmp_path, gallery):
    names = sorted(str(p.relative_to(gallery)) for p in gallery.rglob("*") if p.is_file())
    paths = write_index(tmp_path / "idx", gallery, names, vectors_for(names, np.random.default_rng(4)))
    return open_index(paths)


def summary(report):
    return [(g.keeper.path, [(m.path, m.exact) for m in g.duplicates]) for g in report.groups]


def test_groups_keepers_and_facts(index):
    report = find_duplicate_groups(index, 0.95)
    assert summary(report) == [
        ("astronaut.png", [("sub/astronaut_copy.png", True), ("astronaut_q30.jpg", False), ("astronaut_small.jpg", False)])
    ]
    group = report.groups[0]
    assert (group.keeper.width, group.keeper.height, group.keeper.similarity) == (512, 512, 1.0)
    small = group.duplicates[2]
    assert (small.width, small.height) == (256, 256) and small.similarity == pytest.approx(0.97, abs=1e-5)
    assert small.size == (index.gallery_dir / "astronaut_small.jpg").stat().st_size
    assert group.reclaimable == sum(m.size for m in group.duplicates)
    assert report.cache == "missing" and report.gallery_size == 7
    hist = report.nearest_histogram
    assert sum(hist["counts"]) == 7 and len(hist["edges"]) == len(hist["counts"]) + 1
    assert hist["counts"][-1] >= 3  # astronaut, its copy and the q30 copy have a neighbour at >= 0.99


def test_a_lower_threshold_is_instant_and_adds_groups(index):
    find_duplicate_groups(index, 0.95)
    report = find_duplicate_groups(index, 0.92)
    assert report.cache == "hit"
    assert summary(report)[1] == ("coffee.jpg", [("coffee_crop.jpg", False)])
    strict = find_duplicate_groups(index, 1.0)  # only the byte-identical copy remains
    assert summary(strict) == [("astronaut.png", [("sub/astronaut_copy.png", True)])]


def test_min_size_prefer_and_missing_files(index):
    assert summary(find_duplicate_groups(index, 0.92, min_size=3)) == [
        ("astronaut.png", [("sub/astronaut_copy.png", True), ("astronaut_q30.jpg", False), ("astronaut_small.jpg", False)])
    ]
    preferred = find_duplicate_groups(index, 0.95, prefer="*.jpg")
    assert preferred.groups[0].keeper.path == "astronaut_q30.jpg"  # the best .jpg: full size
    (index.gallery_dir / "astronaut.png").unlink()
    report = find_duplicate_groups(index, 0.95)
    assert report.missing == ["astronaut.png"]
    # without the original, its copy (most pixels, then the largest file) keeps the rest
    assert summary(report) == [("sub/astronaut_copy.png", [("astronaut_q30.jpg", False), ("astronaut_small.jpg", False)])]


def test_sort_by_space(index):
    by_size = find_duplicate_groups(index, 0.92)
    assert [g.keeper.path for g in by_size.groups] == ["astronaut.png", "coffee.jpg"]
    (index.gallery_dir / "coffee_crop.jpg").write_bytes(b"x" * 10**7)  # now the most bytes to free
    by_space = find_duplicate_groups(index, 0.92, sort="space")
    assert [g.keeper.path for g in by_space.groups] == ["coffee.jpg", "astronaut.png"]
    assert by_space.groups[0].duplicates[0].width is None  # no readable header: 0 pixels, so not the keeper


def test_bad_arguments(index):
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(VistaMatchError, match="threshold must be in"):
            find_duplicate_groups(index, bad)
    with pytest.raises(VistaMatchError, match="sort must be one of size, space"):
        find_duplicate_groups(index, sort="name")


def test_to_dict(index):
    d = find_duplicate_groups(index, 0.95, use_cache=False).to_dict()
    assert d["group_count"] == 1 and d["duplicate_count"] == 3 and d["cache"] == "off"
    assert d["groups"][0]["keeper"]["path"] == "astronaut.png"
    assert set(d["groups"][0]["duplicates"][0]) == {"path", "similarity", "exact", "size", "mtime_ns", "width", "height"}
    assert d["reclaimable_bytes"] == sum(m["size"] for m in d["groups"][0]["duplicates"])
