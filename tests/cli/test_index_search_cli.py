"""`vistamatch index`, `info` and `search` end to end on real photos with tiny random weights,
and the original project's root scripts."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vistamatch.cli import main
from vistamatch.cli.export import MARKER
from vistamatch.model import random_state_dict, save_weights

from .helpers import run_cli as run

REPO = Path(__file__).resolve().parents[2]


def test_index_then_reindex_then_info(setup, capsys):
    gallery, opts, files, _ = setup
    code, out, _ = run(capsys, "index", gallery, *opts, "--quiet", "--batch-size", "2")
    assert code == 0
    assert "indexed 8 images" in out and "new 8, changed 0, unchanged 0, skipped 1 (= 9 files seen); removed 0" in out
    assert "skipped broken.jpg:" in out and "images/s" in out
    code, out, _ = run(capsys, "index", gallery, *opts, "--quiet")
    assert code == 0 and "new 0, changed 0, unchanged 8, skipped 1 (= 9 files seen)" in out and "embedded 0" in out and "already up to date" in out
    code, out, _ = run(capsys, "info", *files)
    assert code == 0
    assert "images:     8" in out and "dimension:  32" in out and "weights:    sha256:" in out
    assert f"gallery:    {gallery.resolve()}" in out and "skipped:    1" in out and "broken.jpg:" in out


def test_search_table_json_and_export(setup, capsys, tmp_path):
    gallery, opts, _, _ = setup
    run(capsys, "index", gallery, *opts, "--quiet")
    query = gallery / "astronaut.jpg"
    code, out, _ = run(capsys, "search", query, *opts, "--topk", "5")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["rank", "score", "tier", "path"]
    first = lines[1].split()
    assert first[0] == "1" and float(first[1]) == pytest.approx(1.0, abs=1e-4) and first[2] == "Perfect"
    assert first[3] == str(query.resolve())
    assert len(lines) == 1 + 5 + 1 and "5 of 8 images" in lines[-1]

    code, out, _ = run(capsys, "search", query, *opts, "--topk", "200", "--json", "--no-dedup", "--tiers", "absolute")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["topk_requested"] == 200 and result["topk_returned"] == 8
    assert result["dedup_enabled"] is False and result["tier_policy"] == "absolute" and result["gallery_size"] == 8
    assert result["tiers"][0]["items"][0] == {"rank": 1, "score": pytest.approx(1.0, abs=1e-4), "filename": "astronaut.jpg"}
    assert set(result["timing_ms"]) == {"preprocess", "embed", "search", "dedup_filter", "total"}

    export = tmp_path / "out"
    code, out, _ = run(capsys, "search", query, *opts, "--topk", "3", "--export-dir", export)
    names = sorted(p.name for p in export.iterdir() if p.name != MARKER)
    assert code == 0 and len(names) == 3 and "copied 3 files" in out
    assert names[0].startswith("001_1.0000_astronaut") or names[0].startswith("001_0.9999_astronaut")
    assert [n[:4] for n in names] == ["001_", "002_", "003_"]
    assert (export / names[0]).read_bytes() == query.read_bytes()


def test_errors_are_one_line_and_exit_nonzero(setup, capsys, tmp_path, tiny_config):
    gallery, opts, files, _ = setup
    run(capsys, "index", gallery, *opts, "--quiet")
    cases = [
        (["search", tmp_path / "nope.jpg", *opts], "query image not found"),
        (["search", gallery / "broken.jpg", *opts], "broken.jpg"),
        (["info", "--features", tmp_path / "none.npy"], "no index at"),
        (["index", tmp_path / "no-such-folder", *opts], "gallery folder not found"),
    ]
    other = tmp_path / "other.npz"
    save_weights(random_state_dict(tiny_config, seed=5), other)
    cases.append((["search", gallery / "astronaut.jpg", "--weights", other, *files], "re-index with: vistamatch index"))
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "", argv
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command", ["index", "info", "search"])
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"vistamatch {command}" in capsys.readouterr().out.split("example")[1]


def test_original_root_scripts(photo_gallery, tiny_weights, tmp_path):
    """`python build_gallery_features.py` and `python search_top50.py --query ... --export_dir ...`
    with the original environment variables and default file names."""
    shutil.copytree(photo_gallery, tmp_path / "gallery_images")
    env = {**os.environ, "WEIGHTS_PATH": str(tiny_weights), "PYTHONPATH": str(REPO / "src")}
    for var in ("GALLERY_DIR", "GALLERY_FEATURES_PATH", "GALLERY_MAPPING_PATH", "GALLERY_MANIFEST_PATH"):
        env.pop(var, None)
    build = subprocess.run(
        [sys.executable, REPO / "build_gallery_features.py", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert build.returncode == 0, build.stderr
    assert (tmp_path / "gallery_features.npy").is_file() and (tmp_path / "gallery_mapping.npy").is_file()
    assert (tmp_path / "gallery_manifest.json").is_file()

    def search_top50(query: str):
        command = [sys.executable, REPO / "search_top50.py", "--query", query, "--topk", "4", "--export_dir", "results_top50"]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    search = search_top50("gallery_images/sub/coffee.webp")
    assert search.returncode == 0, search.stderr
    exported = sorted(p.name for p in (tmp_path / "results_top50").iterdir() if p.name != MARKER)
    assert len(exported) == 4 and exported[0].startswith("001_") and exported[0].endswith("_coffee.webp")
    # another query into the same folder is refused in one line, the first export left as it was
    other = search_top50("gallery_images/astronaut.jpg")
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr == (
        "error: --export-dir results_top50 holds the results of another query (gallery_images/sub/coffee.webp); "
        "give a new or empty folder\n"
    )
    assert sorted(p.name for p in (tmp_path / "results_top50").iterdir() if p.name != MARKER) == exported


@pytest.mark.parametrize("content", [b"", b"garbage {", b'{"dim": [8]}'], ids=["empty", "garbage", "wrong-type"])
def test_a_broken_manifest_info_names_it_index_sets_it_aside(photo_gallery, tiny_weights, tmp_path, capsys, content):
    idx = tmp_path / "idx"
    files = ["--features", idx / "gallery_features.npy", "--mapping", idx / "gallery_mapping.npy"]
    assert run(capsys, "index", photo_gallery, "--weights", tiny_weights, *files, "--quiet")[0] == 0
    manifest = idx / "gallery_manifest.json"
    manifest.write_bytes(content)
    before = sorted((p.name, p.read_bytes()) for p in idx.iterdir() if p.is_file())

    code, out, err = run(capsys, "info", *files)
    assert code == 2 and out == "" and err.startswith(f"error: {manifest}: unreadable index manifest")
    assert sorted((p.name, p.read_bytes()) for p in idx.iterdir() if p.is_file()) == before  # nothing changed

    code, out, err = run(capsys, "index", photo_gallery, "--weights", tiny_weights, *files, "--quiet")
    backups = list(idx.glob("gallery_manifest.json.broken-*"))
    assert code == 0 and len(backups) == 1 and backups[0].read_bytes() == content
    assert err.startswith(f"warning: index manifest {manifest}: unreadable") and backups[0].name in err
    assert "indexed 8 images" in out
    assert run(capsys, "info", *files)[0] == 0
