"""`vistamatch duplicates` end to end: a real gallery of photos with exact, resized and re-encoded
copies, indexed with tiny random weights. Random weights make near-duplicate scores meaningless, so
the groups asserted here are the byte-identical copies (cosine 1.0 and the same content hash);
tests/duplicates covers near duplicates with controlled vectors."""

import csv
import io
import json
import os
import shutil

import pytest

from vistamatch.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def setup(photo_gallery, photos, tiny_weights, tmp_path_factory):
    root = tmp_path_factory.mktemp("dups")
    gallery = root / "gallery"
    shutil.copytree(photo_gallery, gallery)
    copies = gallery / "copies"
    copies.mkdir()
    shutil.copy(gallery / "astronaut.jpg", copies / "astronaut.jpg")  # exact copy, longer path
    shutil.copy(gallery / "chelsea.png", copies / "chelsea-old.png")  # exact copy, older
    os.utime(copies / "chelsea-old.png", ns=(10**15, 10**15))
    photos["astronaut"].resize((200, 200)).save(copies / "astronaut_small.jpg", quality=90)
    photos["coffee"].save(copies / "coffee_q20.jpg", quality=20)
    idx = root / "idx"
    files = ["--features", idx / "gallery_features.npy", "--mapping", idx / "m.npy", "--manifest", idx / "manifest.json"]
    code = main([str(a) for a in ("index", gallery, "--weights", tiny_weights, *files, "--quiet")])
    assert code == 0
    return gallery, files, idx


def test_exact_copies_grouped_with_the_keeper_rule(setup, capsys):
    gallery, files, idx = setup
    code, out, err = run(capsys, "duplicates", *files, "--threshold", "1.0", "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    groups = {g["keeper"]["path"]: [(d["path"], d["exact"]) for d in g["duplicates"]] for g in report["groups"]}
    # same pixels and size: the oldest keeps; then the shortest path
    assert groups == {"copies/chelsea-old.png": [("chelsea.png", True)], "astronaut.jpg": [("copies/astronaut.jpg", True)]}
    astronaut = next(g for g in report["groups"] if g["keeper"]["path"] == "astronaut.jpg")
    assert (astronaut["keeper"]["width"], astronaut["keeper"]["height"]) == (512, 512)
    assert report["gallery_size"] == 12 and report["threshold"] == 1.0
    assert report["reclaimable_bytes"] == (gallery / "astronaut.jpg").stat().st_size + (gallery / "chelsea.png").stat().st_size
    assert sum(report["nearest_histogram"]["counts"]) == 12
    assert (idx / "gallery_features.neighbours.npz").is_file()


def test_default_threshold_text_and_cache(setup, capsys):
    gallery, files, idx = setup
    (idx / "gallery_features.neighbours.npz").unlink(missing_ok=True)
    code, out, _ = run(capsys, "duplicates", *files)
    lines = out.splitlines()
    assert code == 0 and "neighbour graph computed in" in lines[-1] and "at threshold 0.95" in lines[-1]
    keep = [line for line in lines if line.lstrip().startswith("keep ")]
    assert keep and all(str(gallery) in line for line in keep)
    # whatever random weights score, the exact copy is in its keeper's group, marked exact
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("keep") and line.endswith("/astronaut.jpg"))
    group = lines[start : next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))]
    assert any(line.split()[0] == "exact" and line.endswith("copies/astronaut.jpg") for line in group)
    code, again, _ = run(capsys, "duplicates", *files)
    assert code == 0 and again.splitlines()[-1].endswith("neighbour graph from the cache")
    assert again.splitlines()[:-1] == lines[:-1]


def test_csv(setup, capsys):
    _, files, _ = setup
    code, out, _ = run(capsys, "duplicates", *files, "--threshold", "1.0", "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["group", "role", "similarity", "width", "height", "size", "mtime_ns", "path"]
    by_path = {r[7]: r for r in rows[1:]}
    assert set(by_path) == {"copies/chelsea-old.png", "chelsea.png", "astronaut.jpg", "copies/astronaut.jpg"}
    assert by_path["astronaut.jpg"][1:5] == ["keep", "1.000000", "512", "512"]
    assert by_path["copies/astronaut.jpg"][1] == "exact" and by_path["copies/astronaut.jpg"][0] == by_path["astronaut.jpg"][0]
    with pytest.raises(SystemExit):
        main(["duplicates", "--csv", "--json"])
    assert "not allowed with" in capsys.readouterr().err


def test_errors_and_help(setup, capsys, tmp_path):
    _, files, _ = setup
    with pytest.raises(SystemExit) as exit_info:
        main(["duplicates", "--threshold", "1.5"])
    assert exit_info.value.code == 2 and "must be in (0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["duplicates", "--min-size", "1"])
    assert "at least 2" in capsys.readouterr().err
    code, out, err = run(capsys, "duplicates", "--features", tmp_path / "none.npy")
    assert code == 2 and out == "" and err.startswith("error: no index at")
    with pytest.raises(SystemExit) as exit_info:
        main(["duplicates", "--help"])
    assert exit_info.value.code == 0
    assert "vistamatch duplicates" in capsys.readouterr().out.split("example")[1]


def test_move_to_trash_list_and_undo(setup, capsys):
    gallery, files, idx = setup
    before = sorted(p.relative_to(gallery).as_posix() for p in gallery.rglob("*") if p.is_file())
    code, out, err = run(capsys, "duplicates", *files, "--threshold", "1.0", "--move-to-trash", "--dry-run")
    assert code == 0 and out.splitlines() == ["would move  chelsea.png", "would move  copies/astronaut.jpg"]
    assert not (gallery / ".vistamatch-trash").exists()
    code, out, err = run(capsys, "duplicates", *files, "--threshold", "1.0", "--move-to-trash")
    assert code == 0, err
    assert not (gallery / "chelsea.png").exists() and not (gallery / "copies" / "astronaut.jpg").exists()
    batch = out.split("batch ")[1].split()[0]
    assert (gallery / ".vistamatch-trash" / batch / "files" / "copies" / "astronaut.jpg").is_file()
    code, out, err = run(capsys, "duplicates", *files, "--threshold", "1.0", "--json")
    assert json.loads(out)["groups"] == [] and json.loads(out)["gallery_size"] == 10  # the index learnt the moves
    code, out, err = run(capsys, "duplicates", "trash", "list", *files)
    assert code == 0 and batch in out and "moved" in out
    code, out, err = run(capsys, "duplicates", "undo", *files)
    assert code == 0 and f"batch {batch} (restored)" in out
    after = sorted(p.relative_to(gallery).as_posix() for p in gallery.rglob("*") if p.is_file() and ".vistamatch-trash" not in p.parts)
    assert after == before
    code, out, err = run(capsys, "duplicates", *files, "--threshold", "1.0", "--json")
    assert len(json.loads(out)["groups"]) == 2 and json.loads(out)["gallery_size"] == 12
    code, out, err = run(capsys, "duplicates", "trash", "empty", batch, *files)
    assert code == 0 and not (gallery / ".vistamatch-trash" / batch).exists()
    code, out, err = run(capsys, "duplicates", "undo", *files)
    assert code == 2 and "no trash batch to undo" in err
