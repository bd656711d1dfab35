"""The index belongs to its gallery: `--gallery DIR` finds and updates DIR's one index from any
folder; explicit files and the original environment variables win; without a gallery, the original
layout in the current folder."""

import shutil
from pathlib import Path

import pytest

from vistamatch.cli import main
from vistamatch.index.location import GALLERY_INDEX_DIR, locate_index

ENV_VARS = ("GALLERY_DIR", "GALLERY_FEATURES_PATH", "GALLERY_MAPPING_PATH", "GALLERY_MANIFEST_PATH", "HISTORY_PATH")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = locate_index(tmp_path / "photos")
    assert own.paths.features == tmp_path / "photos" / GALLERY_INDEX_DIR / "gallery_features.npy"
    assert own.history == tmp_path / "photos" / GALLERY_INDEX_DIR / "search_history.json"
    assert own.paths.thumbs_dir == tmp_path / "photos" / GALLERY_INDEX_DIR / ".thumbs" and "gallery's own index" in own.rule
    assert locate_index(Path("photos")).paths == own.paths  # relative or absolute: the same index

    original = locate_index()
    assert original.paths.features == Path("gallery_features.npy") and original.history is None
    assert original.paths.thumbs_dir == Path(".thumbs") and "original layout" in original.rule

    given = locate_index(tmp_path / "photos", features=tmp_path / "x" / "f.npy")
    assert given.paths.manifest == tmp_path / "x" / "gallery_manifest.json" and "command line" in given.rule

    monkeypatch.setenv("GALLERY_FEATURES_PATH", str(tmp_path / "env" / "f.npy"))
    env = locate_index(tmp_path / "photos")
    assert env.paths.features == tmp_path / "env" / "f.npy" and "$GALLERY_FEATURES_PATH" in env.rule


def test_gallery_index_from_any_folder(photo_gallery, tiny_weights, tmp_path, monkeypatch, capsys):
    gallery = tmp_path / "photos"
    shutil.copytree(photo_gallery, gallery)
    elsewhere, another = tmp_path / "a", tmp_path / "b"
    elsewhere.mkdir()
    another.mkdir()

    monkeypatch.chdir(elsewhere)
    code, out, _ = run(capsys, "index", "--gallery", "../photos", "--weights", tiny_weights, "--quiet")
    assert code == 0 and "indexed 8 images" in out
    assert (gallery / GALLERY_INDEX_DIR / "gallery_features.npy").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing in the current folder: no index, lock or temporary file

    monkeypatch.chdir(another)
    code, out, _ = run(capsys, "search", gallery / "astronaut.jpg", "--gallery", gallery, "--weights", tiny_weights, "--topk", "1")
    assert code == 0 and out.splitlines()[1].split()[3] == str((gallery / "astronaut.jpg").resolve())
    code, out, _ = run(capsys, "index", gallery, "--weights", tiny_weights, "--quiet")  # the positional form: the same index
    assert code == 0 and "unchanged 8" in out and "already up to date" in out
    code, out, _ = run(capsys, "info", "--gallery", gallery)
    assert code == 0 and f"index:      {gallery / GALLERY_INDEX_DIR / 'gallery_features.npy'}" in out
    assert "because:    the gallery's own index" in out
    assert list(another.iterdir()) == []


def test_without_a_gallery_the_original_layout(photo_gallery, tiny_weights, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(photo_gallery, tmp_path / "gallery_images")
    assert run(capsys, "index", "--weights", tiny_weights, "--quiet")[0] == 0
    assert (tmp_path / "gallery_features.npy").is_file() and not (tmp_path / "gallery_images" / GALLERY_INDEX_DIR).exists()
    code, out, _ = run(capsys, "info")
    assert code == 0 and "because:    the original layout in the current folder" in out


def test_a_gallery_whose_index_folder_cannot_be_made_gets_one_line(photo_gallery, tiny_weights, tmp_path, capsys):
    gallery = tmp_path / "photos"
    shutil.copytree(photo_gallery, gallery)
    (gallery / GALLERY_INDEX_DIR).write_text("a file where the index folder should be")
    code, out, err = run(capsys, "index", "--gallery", gallery, "--weights", tiny_weights, "--quiet")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and str(gallery / GALLERY_INDEX_DIR) in err and len(err.splitlines()) == 1
