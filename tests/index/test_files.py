"""The index files as one object: readers in the middle of a commit, kills at every step, recovery,
the build lock, broken and truncated files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vistamatch.errors import VistaMatchError
from vistamatch.index import IndexPaths, build_index, open_index
from vistamatch.index import files as files_module
from vistamatch.index.files import IndexFiles, LockTimeout
from vistamatch.index.manifest import BrokenManifestError

from .helpers import PixelStatsModel, commit_next_generation

STEPS = [
    "staged gallery_features.npy.gen-2.tmp",
    "staged gallery_mapping.npy.gen-2.tmp",
    "staged gallery_manifest.json.gen-2.tmp",
    "staged files and folders synced",
    "journal written",
    "renamed gallery_features.npy",
    "renamed gallery_mapping.npy",
    "renamed gallery_manifest.json",
    "renames synced",
    "journal removed",
]

# Commits the next generation and kills itself (SIGKILL) right after the step named in argv[2].
KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[3])
    from index.helpers import commit_next_generation
    from vistamatch.index import IndexPaths
    from vistamatch.index.files import IndexFiles

    def step(name):
        if name == sys.argv[2]:
            os.kill(os.getpid(), signal.SIGKILL)

    commit_next_generation(IndexFiles(IndexPaths.in_dir(sys.argv[1]), on_step=step))
    """
)


@pytest.fixture
def built(gallery, tmp_path) -> IndexPaths:
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build_index(gallery, PixelStatsModel(), paths, progress=False, batch_size=4)
    return paths


def seen(paths, **kw) -> tuple:
    """What a reader gets: (mapping, features, built_at), all from one open_index."""
    index = open_index(paths, **kw)
    return index.relative_paths.tolist(), np.array(index.store._vectors), index.manifest.built_at


def generation(view) -> str:
    return "new" if view[2] == "next" else "old"


def assert_whole(view, old) -> None:
    """``view`` is the whole old index or the whole new one (the old minus its first row)."""
    mapping, features, _ = view
    if generation(view) == "old":
        assert mapping == old[0] and np.array_equal(features, old[1])
    else:
        assert mapping == old[0][1:] and np.array_equal(features, old[1][1:])


def leftovers(paths) -> list[str]:
    folders = {paths.features.parent, paths.mapping.parent, paths.manifest.parent}
    return sorted(p.name for f in folders for p in f.iterdir() if ".gen-" in p.name or "partial-commit" in p.name)


def split(tmp_path) -> IndexPaths:
    """The three files in three folders (--features, --mapping, --manifest anywhere)."""
    return IndexPaths(
        tmp_path / "rows" / "gallery_features.npy",
        tmp_path / "names" / "gallery_mapping.npy",
        tmp_path / "meta" / "gallery_manifest.json",
    )


@pytest.mark.parametrize("layout", ["one folder", "three folders"])
def test_a_reader_at_every_step_of_a_commit_sees_the_old_or_the_new_index(gallery, tmp_path, layout):
    built = IndexPaths.in_dir(tmp_path / "idx") if layout == "one folder" else split(tmp_path)
    build_index(gallery, PixelStatsModel(), built, progress=False, batch_size=4)
    old = seen(built)
    views = {}

    def reader(step):
        views[step] = [seen(built), seen(built, mmap=False)]

    commit_next_generation(IndexFiles(built, on_step=reader))
    assert list(views) == STEPS
    for step, pair in views.items():
        for view in pair:
            assert_whole(view, old)
    # the commit point is the journal: before it the old index, from it on the new one
    assert [generation(pair[0]) for pair in views.values()] == ["old"] * 4 + ["new"] * 6
    assert leftovers(built) == [] and generation(seen(built)) == "new"


def test_every_folder_holding_a_staged_file_is_synced_before_the_journal(gallery, tmp_path, monkeypatch):
    paths = split(tmp_path)
    build_index(gallery, PixelStatsModel(), paths, progress=False, batch_size=4)
    synced = []
    monkeypatch.setattr(files_module, "fsync_dir", lambda folder: synced.append(Path(folder)))
    before_journal = []

    def step(name):
        if name == "journal written":
            before_journal.extend(synced)

    commit_next_generation(IndexFiles(paths, on_step=step))
    assert {p.parent for p in (paths.features, paths.mapping, paths.manifest)} <= set(before_journal)


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_at_every_step_leaves_a_valid_index(built, tmp_path, step):
    old = seen(built)
    tests_dir = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(built.features.parent), step, str(tests_dir)], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    before = seen(built)  # a reader does not need the recovery, and does not run it
    assert_whole(before, old)
    assert generation(before) == ("old" if STEPS.index(step) < STEPS.index("journal written") else "new")
    files = IndexFiles(built)
    with files.locked():
        files.recover()
    after = seen(built)
    assert_whole(after, old)
    assert generation(after) == generation(before) and leftovers(built) == []


def test_a_missing_staged_file_is_not_taken_as_done(built):
    old = seen(built)

    class Killed(Exception):
        pass

    def die_after_the_journal(step):
        if step == "journal written":
            raise Killed

    with pytest.raises(Killed):
        commit_next_generation(IndexFiles(built, on_step=die_after_the_journal))
    built.mapping.with_name("gallery_mapping.npy.gen-2.tmp").unlink()  # lost, e.g. deleted by hand
    with pytest.raises(VistaMatchError, match="not of the same commit"):
        open_index(built)  # the new features and manifest, the old mapping: refused, never paired
    files = IndexFiles(built)
    with files.locked():
        files.recover()  # incomplete journal: rolled back, not forward
    after = seen(built)
    assert generation(after) == "old" and after[0] == old[0] and np.array_equal(after[1], old[1])
    assert leftovers(built) == []


def test_recovery_and_commits_need_the_lock(built):
    files = IndexFiles(built)
    with pytest.raises(RuntimeError, match="build lock"):
        files.recover()


def test_a_copied_index_still_reads(built, tmp_path):
    shutil.copytree(built.features.parent, tmp_path / "copy")  # new inodes and mtimes, same contents
    assert seen(IndexPaths.in_dir(tmp_path / "copy"))[0] == seen(built)[0]


def test_the_lock_waits_for_its_holder(built, gallery):
    holder = IndexFiles(built)
    held = threading.Event()

    def hold():
        with holder.locked():
            held.set()
            time.sleep(1.0)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    start = time.monotonic()
    report = build_index(gallery, PixelStatsModel(), built, progress=False, lock_timeout=30)
    waited = time.monotonic() - start
    thread.join()
    assert report.total == 12 and waited >= 0.5


def test_the_lock_times_out_naming_the_file_and_its_holder(built, gallery):
    with IndexFiles(built).locked():
        with pytest.raises(LockTimeout) as caught:
            build_index(gallery, PixelStatsModel(), built, progress=False, lock_timeout=0.2)
    message = str(caught.value)
    assert str(built.lock) in message and f"pid {os.getpid()}" in message and "0.2 s" in message


# Builds with a model slowed down per batch, printing when it holds the lock.
SLOW_BUILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from index.helpers import PixelStatsModel
    from vistamatch.index import IndexPaths, build_index

    class Slow(PixelStatsModel):
        def __call__(self, x):
            time.sleep(0.05)
            return super().__call__(x)

    report = build_index(sys.argv[1], Slow(), IndexPaths.in_dir(sys.argv[2]), batch_size=1, progress=False)
    print(report.total, report.written)
    """
)


def test_two_processes_building_one_index_queue(gallery, tmp_path):
    tests_dir = Path(__file__).resolve().parents[1]
    paths = IndexPaths.in_dir(tmp_path / "idx")
    cmd = [sys.executable, "-c", SLOW_BUILD, str(gallery), str(paths.features.parent), str(tests_dir)]
    with IndexFiles(paths).locked():  # both start while the lock is held: both must wait
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        time.sleep(1.0)
        assert [p.poll() for p in procs] == [None, None]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert sorted(out.split() for out, _ in outs) == [["12", "False"], ["12", "True"]]  # one built, one found it done
    assert open_index(paths).size == 12


def test_a_truncated_features_file_is_named(built):
    data = built.features.read_bytes()
    built.features.write_bytes(data[: len(data) // 2])
    with pytest.raises(VistaMatchError, match="truncated") as caught:
        open_index(built)
    assert str(caught.value).startswith(f"{built.features}:") and "mapping" not in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[1, 2]", b'{"model_fingerprint": 5}', b"[" * 100_000, b'{"dim": "8", "count": 1}'],
    ids=["empty", "garbage", "list", "wrong-type", "deep", "string-dim"],
)
def test_a_broken_manifest_is_named_by_readers_and_set_aside_by_builds(built, gallery, content):
    built.manifest.write_bytes(content)
    with pytest.raises(BrokenManifestError) as caught:
        open_index(built)
    assert str(caught.value).startswith(f"{built.manifest}: unreadable index manifest")
    assert built.manifest.read_bytes() == content  # readers change nothing
    report = build_index(gallery, PixelStatsModel(), built, progress=False)
    backups = list(built.manifest.parent.glob("gallery_manifest.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content
    assert backups[0].name in report.set_aside and "full build" in report.note
    assert report.written and open_index(built).size == 12


def test_a_folder_in_place_of_a_file_is_named(built):
    built.mapping.unlink()
    built.mapping.mkdir()
    with pytest.raises(VistaMatchError, match=f"{built.mapping}: cannot read the index"):
        open_index(built)


@pytest.mark.parametrize("journal", [b"", b"{not json", b'{"a.npy": "a.npy.partial-new"}', b'{"entries": [{"target": 1}]}'])
def test_a_journal_that_is_not_ours_is_ignored_by_readers_and_rolled_back(built, journal):
    old = seen(built)
    built.journal.write_bytes(journal)
    assert seen(built)[0] == old[0]
    files = IndexFiles(built)
    with files.locked():
        files.recover()
    assert not built.journal.exists() and seen(built)[0] == old[0]
