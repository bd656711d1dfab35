"""Moving duplicates to the trash and back: round trips, refusals, kill -9 mid-batch, corrupt journals."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vistamatch.duplicates import find_duplicate_groups
from vistamatch.duplicates.trash import MOVED, MOVING, RESTORED, RESTORING, TRASH_DIR, Trash, TrashError
from vistamatch.index import open_index

from .helpers import towards, unit, write_index

NAMES = ["a.jpg", "sub/a_copy.jpg", "sub/deep/a_small.jpg", "b.jpg", "c.jpg"]


@pytest.fixture
def gallery(tmp_path, photos):
    """a.jpg, its byte copy and a resized copy; b.jpg and c.jpg far from everything."""
    root = tmp_path / "gallery"
    (root / "sub" / "deep").mkdir(parents=True)
    photos["astronaut"].resize((128, 128)).save(root / "a.jpg", quality=90)
    (root / "sub" / "a_copy.jpg").write_bytes((root / "a.jpg").read_bytes())
    photos["astronaut"].resize((64, 64)).save(root / "sub" / "deep" / "a_small.jpg", quality=80)
    photos["coffee"].resize((96, 64)).save(root / "b.jpg")
    photos["chelsea"].resize((96, 64)).save(root / "c.jpg")
    return root


@pytest.fixture
def paths(tmp_path, gallery):
    rng = np.random.default_rng(7)
    base, other = unit(rng, 3, 16), unit(rng, 1, 16)[0]
    by_name = {
        "a.jpg": base[0],
        "sub/a_copy.jpg": base[0],
        "sub/deep/a_small.jpg": towards(base[0], other, 0.97),
        "b.jpg": base[1],
        "c.jpg": base[2],
    }
    return write_index(tmp_path / "idx", gallery, NAMES, np.stack([by_name[n] for n in NAMES]))


def snapshot(gallery):
    """Every file of the gallery outside the trash: relative path -> (bytes, mtime_ns)."""
    found = {}
    for p in gallery.rglob("*"):
        rel = p.relative_to(gallery).as_posix()
        if p.is_file() and not rel.startswith(TRASH_DIR):
            found[rel] = (p.read_bytes(), p.stat().st_mtime_ns)
    return found


def index_rows(paths):
    index = open_index(paths)
    return {str(k): np.asarray(index.store.vectors(np.array([i])))[0] for i, k in enumerate(index.relative_paths)}


MOVES = {"sub/a_copy.jpg": "a.jpg", "sub/deep/a_small.jpg": "a.jpg"}


def test_move_and_undo_round_trip(gallery, paths):
    before, rows_before = snapshot(gallery), index_rows(paths)
    trash = Trash(gallery, paths)
    result = trash.move(MOVES)
    assert sorted(result.done) == sorted(MOVES) and result.refused == []
    batch = result.batch
    assert batch.state == MOVED
    for rel in MOVES:  # in the trash at its relative path, gone from the gallery
        assert not (gallery / rel).exists()
        assert (batch.folder / "files" / rel).read_bytes() == before[rel][0]
    # the index learnt the moves: rows gone, and the duplicates found no longer list them
    assert sorted(index_rows(paths)) == ["a.jpg", "b.jpg", "c.jpg"]
    assert find_duplicate_groups(open_index(paths, gallery_dir=gallery), 0.95).groups == []
    assert [b.id for b in trash.batches()] == [batch.id]

    undone = trash.undo()
    assert sorted(undone.done) == sorted(MOVES) and undone.refused == []
    assert undone.batch.state == RESTORED
    assert snapshot(gallery) == before  # bytes and modification times exactly as they were
    rows_after = index_rows(paths)
    assert sorted(rows_after) == sorted(rows_before)
    for name, vector in rows_before.items():
        np.testing.assert_array_equal(rows_after[name], vector)
    assert [g.keeper.path for g in find_duplicate_groups(open_index(paths, gallery_dir=gallery), 0.95).groups] == ["a.jpg"]
    with pytest.raises(TrashError, match="no trash batch to undo"):
        trash.undo()


def test_dry_run_moves_nothing(gallery, paths):
    before = snapshot(gallery)
    result = Trash(gallery, paths).move(MOVES, dry_run=True)
    assert result.dry_run and sorted(result.done) == sorted(MOVES) and result.batch is None
    assert snapshot(gallery) == before and not (gallery / TRASH_DIR).exists()


def test_refusals_leave_files_in_place(gallery, paths, tmp_path):
    # changed since indexing with the same size and mtime: only the content hash tells
    target = gallery / "b.jpg"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (gallery / "link.jpg").symlink_to(gallery / "c.jpg")
    os.rename(gallery / "sub" / "deep", tmp_path / "deep")  # an indexed file now behind a folder leading out
    (gallery / "sub" / "deep").symlink_to(tmp_path / "deep")
    before = snapshot(gallery)
    moves = {
        "a.jpg": "sub/a_copy.jpg",  # a keeper of this request (a.jpg keeps the others)
        "sub/a_copy.jpg": "a.jpg",
        "b.jpg": "a.jpg",
        "c.jpg": "a.jpg",  # not a duplicate
        "sub/deep/a_small.jpg": "a.jpg",
        "../outside.jpg": "a.jpg",
        "link.jpg": "a.jpg",
        "missing.jpg": "a.jpg",
    }
    result = Trash(gallery, paths).move(moves)
    reasons = dict(result.refused)
    assert "keeper" in reasons["a.jpg"] and "keeper" in reasons["sub/a_copy.jpg"]  # a.jpg is both: keep both
    assert "content hash" in reasons["b.jpg"]
    assert "not a duplicate" in reasons["c.jpg"]
    assert "not in the index" in reasons["../outside.jpg"] and "not in the index" in reasons["missing.jpg"]
    assert "not in the index" in reasons["link.jpg"]
    assert "outside the gallery" in reasons["sub/deep/a_small.jpg"]
    assert result.batch is None and result.done == []
    assert snapshot(gallery) == before and (tmp_path / "outside.jpg").exists() and (tmp_path / "deep" / "a_small.jpg").exists()


def test_undo_never_replaces_a_file_that_took_the_place(gallery, paths):
    trash = Trash(gallery, paths)
    batch = trash.move(MOVES).batch
    (gallery / "sub" / "a_copy.jpg").write_bytes(b"a new file")
    result = trash.undo(batch.id)
    assert result.done == ["sub/deep/a_small.jpg"]
    assert [p for p, _ in result.refused] == ["sub/a_copy.jpg"] and "another file" in result.refused[0][1]
    assert (gallery / "sub" / "a_copy.jpg").read_bytes() == b"a new file"
    assert (batch.folder / "files" / "sub" / "a_copy.jpg").exists()  # still safe in the trash
    assert result.batch.state == RESTORING
    (gallery / "sub" / "a_copy.jpg").unlink()
    assert trash.undo(batch.id).batch.state == RESTORED


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from vistamatch.duplicates.trash import Trash
    from vistamatch.index import IndexPaths
    gallery, index_dir, kill_at, action = sys.argv[1:5]
    def step(name):
        if name == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    trash = Trash(Path(gallery), IndexPaths.in_dir(index_dir), on_step=step)
    if action == "undo":
        trash.undo()
    else:
        trash.move({"sub/a_copy.jpg": "a.jpg", "sub/deep/a_small.jpg": "a.jpg"})
    """
)


def run_killed(gallery, paths, kill_at, action="move"):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-c", KILL_SCRIPT, str(gallery), str(paths.features.parent), kill_at, action]
    proc = subprocess.run(argv, env=env)
    assert proc.returncode == -9


def all_files(gallery):
    """Every copy of every name, gallery and trash together: name -> count."""
    counts = {}
    for p in gallery.rglob("*.jpg"):
        rel = p.relative_to(gallery).as_posix()
        name = rel.split("/files/", 1)[1] if rel.startswith(TRASH_DIR) else rel
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("kill_at", ["planned", "trashed sub/a_copy.jpg", "trashed sub/deep/a_small.jpg", "index committed"])
def test_kill_mid_batch_then_undo_restores_everything(gallery, paths, kill_at):
    before, rows_before = snapshot(gallery), index_rows(paths)
    run_killed(gallery, paths, kill_at)
    assert all_files(gallery) == {n: 1 for n in NAMES}  # every file exactly once: never lost, never in both
    trash = Trash(gallery, paths)
    (batch,) = trash.batches()
    assert batch.state == MOVING
    trash.undo()
    assert snapshot(gallery) == before
    assert sorted(index_rows(paths)) == sorted(rows_before)
    assert trash.batches()[0].state == RESTORED


@pytest.mark.parametrize("kill_at", ["trashed sub/a_copy.jpg", "index committed"])
def test_kill_mid_batch_then_redo_finishes(gallery, paths, kill_at):
    run_killed(gallery, paths, kill_at)
    result = Trash(gallery, paths).redo()
    assert result.batch.state == MOVED and result.refused == []
    assert sorted(snapshot(gallery)) == ["a.jpg", "b.jpg", "c.jpg"]
    assert sorted(index_rows(paths)) == ["a.jpg", "b.jpg", "c.jpg"]


@pytest.mark.parametrize("kill_at", ["restoring", "restored sub/a_copy.jpg", "index committed"])
def test_kill_mid_undo_then_undo_again(gallery, paths, kill_at):
    before, rows_before = snapshot(gallery), index_rows(paths)
    Trash(gallery, paths).move(MOVES)
    run_killed(gallery, paths, kill_at, "undo")
    assert all_files(gallery) == {n: 1 for n in NAMES}
    trash = Trash(gallery, paths)
    assert trash.batches()[0].state == RESTORING
    assert trash.undo().batch.state == RESTORED
    assert snapshot(gallery) == before and sorted(index_rows(paths)) == sorted(rows_before)


def test_kill_between_link_and_unlink(gallery, paths):
    """One inode under both names (a kill between link and unlink): undo keeps exactly one."""
    trash = Trash(gallery, paths)
    batch = trash.move(MOVES).batch
    os.link(batch.folder / "files" / "sub" / "a_copy.jpg", gallery / "sub" / "a_copy.jpg")
    trash.undo()
    assert all_files(gallery) == {n: 1 for n in NAMES}


def test_corrupt_journal_is_set_aside(gallery, paths):
    trash = Trash(gallery, paths)
    batch = trash.move(MOVES).batch
    (batch.folder / "journal.json").write_text('{"format_version": 1, "state": "mov')
    assert trash.batches() == []
    assert "unreadable trash journal" in trash.warnings[0]
    assert [p.name.startswith("journal.json.corrupt-") for p in batch.folder.iterdir() if p.is_file() and "journal" in p.name] == [True]
    assert (batch.folder / "files" / "sub" / "a_copy.jpg").exists()  # the files stay, for a restore by hand
    with pytest.raises(TrashError, match="no trash batch"):
        trash.undo()


def test_empty_deletes_only_finished_batches(gallery, paths):
    trash = Trash(gallery, paths)
    batch = trash.move(MOVES).batch
    journal = json.loads((batch.folder / "journal.json").read_text())
    (batch.folder / "journal.json").write_text(json.dumps({**journal, "state": MOVING}))
    with pytest.raises(TrashError, match="unfinished"):
        trash.empty()
    (batch.folder / "journal.json").write_text(json.dumps(journal))
    assert [b.id for b in trash.empty(batch.id)] == [batch.id]
    assert not batch.folder.exists() and trash.batches() == []
    assert sorted(snapshot(gallery)) == ["a.jpg", "b.jpg", "c.jpg"]


def test_no_manifest_is_refused(gallery, paths):
    paths.manifest.unlink()
    with pytest.raises(TrashError, match="no manifest"):
        Trash(gallery, paths).move(MOVES)


def test_undo_after_a_rebuild_with_another_model_restores_files_only(gallery, paths):
    from vistamatch.index.files import IndexFiles

    trash = Trash(gallery, paths)
    trash.move(MOVES)
    files = IndexFiles(paths)
    with files.locked():
        manifest, _ = files.load_manifest()
        manifest.model_fingerprint = "another:2"
        files.commit(manifest)
    result = trash.undo()
    assert sorted(result.done) == sorted(MOVES) and result.batch.state == RESTORED
    assert sorted(index_rows(paths)) == ["a.jpg", "b.jpg", "c.jpg"]  # old-model rows are never mixed in
    assert "another model" in trash.warnings[0]


def test_the_index_scan_never_reads_the_trash(gallery, paths):
    from vistamatch.index.scan import scan_gallery

    Trash(gallery, paths).move(MOVES)
    assert sorted(f.path for f in scan_gallery(gallery)) == ["a.jpg", "b.jpg", "c.jpg"]


def test_a_batch_killed_before_its_journal_is_pruned(gallery, paths):
    trash = Trash(gallery, paths)
    trash.move(MOVES)
    trash.undo()
    (gallery / TRASH_DIR / "20260101T000000000Z-dead00").mkdir()
    (gallery / TRASH_DIR / "20260101T000000000Z-dead00" / "rows.npy").write_bytes(b"partial")
    trash.move({"sub/a_copy.jpg": "a.jpg"})
    assert len(list((gallery / TRASH_DIR).iterdir())) == 2 and len(trash.batches()) == 2
