"""`vistamatch search --export-dir`: one query per folder; the same query replaces its own files only."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vistamatch.cli import main
from vistamatch.cli.export import MARKER

from .helpers import run_cli as run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def indexed(setup):
    gallery, opts, _, _ = setup
    assert main(["index", str(gallery), *opts, "--quiet"]) == 0
    return gallery, opts


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_same_query_replaces_its_export(indexed, capsys, tmp_path):
    gallery, opts = indexed
    folder = tmp_path / "out"
    query = gallery / "astronaut.jpg"
    assert run(capsys, "search", query, *opts, "--topk", "4", "--export-dir", folder)[0] == 0
    (folder / "notes.txt").write_text("mine")  # the user's file, not the export's
    code, out, _ = run(capsys, "search", query, *opts, "--topk", "2", "--export-dir", folder)
    assert code == 0 and "copied 2 files" in out
    names = sorted(listing(folder))
    exported = [n for n in names if n[0].isdigit()]
    assert [n[:4] for n in exported] == ["001_", "002_"] and set(names) == {MARKER, "notes.txt", *exported}
    marker = json.loads((folder / MARKER).read_text())
    assert marker == {"query": str(query), "sha256": marker["sha256"], "files": exported}


def test_another_query_is_refused_and_nothing_changes(indexed, capsys, tmp_path):
    gallery, opts = indexed
    folder = tmp_path / "out"
    assert run(capsys, "search", gallery / "astronaut.jpg", *opts, "--topk", "3", "--export-dir", folder)[0] == 0
    before = listing(folder)
    # a copy of the same photo under another name is the same query (same bytes): replaced, not refused
    same = tmp_path / "copy.jpg"
    same.write_bytes((gallery / "astronaut.jpg").read_bytes())
    assert run(capsys, "search", same, *opts, "--topk", "3", "--export-dir", folder)[0] == 0
    other = gallery / "chelsea.png"
    code, out, err = run(capsys, "search", other, *opts, "--topk", "3", "--export-dir", folder)
    assert (code, out) == (2, "")
    assert err == (
        f"error: --export-dir {folder} holds the results of another query ({same}); give a new or empty folder\n"
    )
    after = listing(folder)
    assert {k: v for k, v in after.items() if k != MARKER} == {k: v for k, v in before.items() if k != MARKER}


def test_folders_that_are_not_exports_are_refused(indexed, capsys, tmp_path):
    gallery, opts = indexed
    query = gallery / "astronaut.jpg"
    full = tmp_path / "full"
    full.mkdir()
    (full / "001_0.5000_old.jpg").write_bytes(b"an export from before markers")
    file = tmp_path / "a-file"
    file.write_text("x")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MARKER).write_text("{not json")
    cases = [
        (full, f"error: --export-dir {full} is not empty and holds no export of this query; give a new or empty folder\n"),
        (file, f"error: --export-dir is not a folder: {file}\n"),
        (broken, f"error: --export-dir {broken}: unreadable {MARKER}; give a new or empty folder\n"),
    ]
    for folder, message in cases:
        assert run(capsys, "search", query, *opts, "--export-dir", folder) == (2, "", message)
    assert sorted(p.name for p in full.iterdir()) == ["001_0.5000_old.jpg"]


def test_a_marker_cannot_delete_outside_the_folder(indexed, capsys, tmp_path):
    gallery, opts = indexed
    folder = tmp_path / "out"
    query = gallery / "astronaut.jpg"
    assert run(capsys, "search", query, *opts, "--topk", "2", "--export-dir", folder)[0] == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    marker = json.loads((folder / MARKER).read_text())
    marker["files"] += ["../victim.txt", str(victim), ".hidden"]
    (folder / MARKER).write_text(json.dumps(marker))
    (folder / ".hidden").write_text("keep")
    assert run(capsys, "search", query, *opts, "--topk", "2", "--export-dir", folder)[0] == 0
    assert victim.read_text() == "keep" and (folder / ".hidden").read_text() == "keep"


def test_an_export_killed_midway_is_still_this_querys(indexed, tmp_path):
    """kill -9 as soon as the marker is there (during the copies, or after on a fast machine): the marker
    names the query and its files, so another query is still refused and the same query completes the folder."""
    gallery, opts = indexed
    folder = tmp_path / "out"
    query = gallery / "astronaut.jpg"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "vistamatch", "search", str(query), *opts, "--topk", "8", "--export-dir", str(folder)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (folder / MARKER).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    marker = json.loads((folder / MARKER).read_text())  # written whole (atomic), before the copies
    assert marker["query"] == str(query) and len(marker["files"]) == 8
    other = subprocess.run([*command[:4], str(gallery / "chelsea.png"), *command[5:]], env=env, capture_output=True, text=True)
    assert other.returncode == 2 and "holds the results of another query" in other.stderr
    again = subprocess.run(command, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted([*marker["files"], MARKER])
