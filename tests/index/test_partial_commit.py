"""build_index with commit_seconds: what is embedded so far is committed while the build runs; each
partial commit is a consistent index (files not read yet keep their old rows, new ones are pending),
and the end result equals a build without partial commits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vistamatch.index import IndexPaths, build_index, open_index

from .helpers import write_variants


@pytest.fixture(autouse=True)
def commit_after_every_call(monkeypatch):
    """No stretching of the interval by the commits' own cost (fsyncs on a busy test machine)."""
    monkeypatch.setattr("vistamatch.index.build.COMMIT_STRETCH", 0)


class Slow:
    """The model, 0.15 s a call: the commits land between calls whatever the machine's speed."""

    def __init__(self, model):
        self.model, self.fingerprint, self.config = model, model.fingerprint, model.config

    def __call__(self, x):
        time.sleep(0.15)
        return self.model(x)


def build_watching_commits(gallery, model, paths, **options):
    """build_index committing as often as it may (commit_seconds=0); the index each commit left."""
    seen = []
    model = Slow(model)

    def on_progress(progress):
        if progress.committed:
            index = open_index(paths)
            seen.append((progress, index.size, index.manifest.pending, set(index.relative_paths.tolist())))

    report = build_index(gallery, model, paths, progress=False, batch_size=2, workers=1, commit_seconds=0.0, on_progress=on_progress, **options)
    return report, seen


def test_a_first_build_is_committed_as_it_goes(gallery, stats_model, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report, seen = build_watching_commits(gallery, stats_model, paths)
    partial = [s for s in seen if s[2]]
    assert report.total == 12 and len(partial) >= 2
    for progress, size, pending, _ in partial:
        assert size + pending == 12 and progress.total == 12 and size <= progress.done < 12
    assert [s[1] for s in seen] == sorted(s[1] for s in seen)  # only grows
    assert seen[-1][1:3] == (12, 0)
    clean = IndexPaths.in_dir(tmp_path / "clean")
    build_index(gallery, stats_model, clean, progress=False)
    np.testing.assert_array_equal(np.asarray(open_index(paths).store.vectors(np.arange(12))), np.asarray(open_index(clean).store.vectors(np.arange(12))))
    assert list(open_index(paths).relative_paths) == list(open_index(clean).relative_paths)


def test_an_update_keeps_old_rows_of_files_not_read_yet(gallery, stats_model, photos, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build_index(gallery, stats_model, paths, progress=False)
    before = set(open_index(paths).relative_paths.tolist())
    changed = sorted(gallery.glob("*.*"))[:3]
    for path in changed:  # new bytes (a byte after the image), same names
        path.write_bytes(path.read_bytes() + b"\0")
    gone = sorted(gallery.glob("*.*"))[-1]
    gone.unlink()
    new = write_variants(gallery / "new", photos, 4, start=50)
    report, seen = build_watching_commits(gallery, stats_model, paths)
    new_names = {p.relative_to(gallery).as_posix() for p in new}
    changed_names = {p.relative_to(gallery).as_posix() for p in changed}
    assert len(report.changed) == 3 and [s for s in seen if s[2]], "no partial commit"
    for _, size, pending, names in seen:
        assert changed_names <= names  # old rows until re-read, then the new ones: never missing
        assert gone.relative_to(gallery).as_posix() not in names and names <= before | new_names and len(names) == size
    assert seen[-1][2] == 0 and seen[-1][3] == set(open_index(paths).relative_paths.tolist())
    assert new_names <= seen[-1][3] and report.total == 12 + 4 - 1
