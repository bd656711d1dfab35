import json
import os
import shutil

import numpy as np
import pytest

from vistamatch.errors import VistaMatchError
from vistamatch.imaging import PreprocessConfig
from vistamatch.index import IndexPaths, Manifest, build_index, open_index, pipeline
from vistamatch.index.files import LockTimeout
from vistamatch.index.scan import content_hash

from .helpers import PixelStatsModel, write_variants


def build(gallery, model, paths, **kw):
    return build_index(gallery, model, paths, progress=False, batch_size=4, workers=2, **kw)


def load(paths):
    return np.load(paths.features), np.load(paths.mapping, allow_pickle=False), Manifest.load(paths.manifest)


@pytest.fixture
def decode_counter(monkeypatch):
    """Counts files decoded by the build pipeline."""
    calls = []
    real = pipeline.load_and_preprocess

    def counting(source, config, *, name=None):
        calls.append(name)
        return real(source, config, name=name)

    monkeypatch.setattr(pipeline, "load_and_preprocess", counting)
    return calls


def test_clean_build_writes_the_seed_pair_and_a_manifest(photo_gallery, stats_model, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report = build(photo_gallery, stats_model, paths)
    features, mapping, manifest = load(paths)
    expected = sorted(p.relative_to(photo_gallery).as_posix() for p in photo_gallery.rglob("*") if p.is_file())
    assert mapping.tolist() == expected and mapping.dtype.kind == "U"
    assert any(m.startswith("sub/") for m in mapping)
    assert features.dtype == np.float32 and features.shape == (len(expected), 8)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-6)
    assert report.total == report.embedded == len(expected) and report.added == expected
    assert report.written and not report.skipped
    assert manifest.model_fingerprint == "stats:1" and manifest.dim == 8
    assert manifest.preprocess == PreprocessConfig().to_dict() | {"max_aspect": 4.0}
    rec = manifest.files[0]
    src = photo_gallery / rec.path
    assert rec.size == src.stat().st_size and rec.mtime_ns == src.stat().st_mtime_ns
    assert rec.hash == content_hash(src.read_bytes()) and rec.status == "indexed"
    raw = json.loads(paths.manifest.read_text())
    assert raw["count"] == len(expected) and raw["skipped"] == [] and raw["built_at"]
    assert not paths.checkpoint_dir.exists()


def test_unchanged_gallery_decodes_nothing(gallery, stats_model, tmp_path, decode_counter):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(gallery, stats_model, paths)
    assert len(decode_counter) == 12
    before = paths.features.read_bytes(), paths.manifest.read_bytes()
    report = build(gallery, stats_model, paths)
    assert len(decode_counter) == 12 and stats_model.images_seen == 12
    assert report.unchanged == 12 and report.embedded == 0 and not report.written
    assert (paths.features.read_bytes(), paths.manifest.read_bytes()) == before


def test_add_change_delete_rename_touch(gallery, photos, stats_model, tmp_path, decode_counter):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(gallery, stats_model, paths)
    rel = lambda p: p.relative_to(gallery).as_posix()
    files = sorted(p for p in gallery.rglob("*") if p.is_file())
    added = [rel(p) for p in write_variants(gallery, photos, 2, start=100)]
    changed = files[1]
    photos["coffee"].resize((90, 70)).save(changed, format="JPEG" if changed.suffix == ".jpg" else "PNG")
    files[2].unlink()
    (gallery / "renamed").mkdir()
    renamed = files[3].rename(gallery / "renamed" / files[3].name)
    touched = files[4]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    decode_counter.clear()
    stats_model.images_seen = 0

    report = build(gallery, stats_model, paths)
    assert sorted(report.added) == sorted([rel(renamed), *added])
    assert report.changed == [rel(changed)]
    assert report.removed == sorted([rel(files[2]), rel(files[3])])
    assert report.embedded == 3 and stats_model.images_seen == 3  # two new files + the changed one
    assert report.reused == 1  # the rename
    assert report.unchanged == 12 - 4 + 1  # untouched ones + the touched file (same bytes)
    assert sorted(decode_counter) == sorted([*added, rel(changed)])
    manifest = Manifest.load(paths.manifest)
    assert {f.path: f.mtime_ns for f in manifest.files}[rel(touched)] == touched.stat().st_mtime_ns

    # the incremental result is exactly a clean build of the same folder
    clean = IndexPaths.in_dir(tmp_path / "clean")
    build(gallery, PixelStatsModel(), clean)
    f1, m1, _ = load(paths)
    f2, m2, _ = load(clean)
    assert m1.tolist() == m2.tolist()
    assert np.array_equal(f1, f2)


def test_a_lost_mapping_file_is_rebuilt(gallery, stats_model, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(gallery, stats_model, paths)
    mapping = np.load(paths.mapping)
    paths.mapping.unlink()
    report = build(gallery, stats_model, paths)
    assert report.written and "full build" in report.note
    assert np.array_equal(np.load(paths.mapping), mapping)


def test_duplicate_files_are_embedded_once(gallery, stats_model, tmp_path, decode_counter):
    first = min(gallery.glob("*.jpg"))
    shutil.copy(first, gallery / "copy_a.jpg")
    (gallery / "deep" / "er").mkdir(parents=True)
    shutil.copy(first, gallery / "deep" / "er" / "copy_b.jpg")
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report = build(gallery, stats_model, paths)
    assert report.total == 14 and report.duplicates == 2
    assert report.embedded == stats_model.images_seen == 12
    assert len(decode_counter) == 12  # the copies are recognised by their bytes before decoding
    features, mapping, _ = load(paths)
    rows = [mapping.tolist().index(n) for n in (first.name, "copy_a.jpg", "deep/er/copy_b.jpg")]
    assert np.array_equal(features[rows[0]], features[rows[1]]) and np.array_equal(features[rows[0]], features[rows[2]])
    # a copy added later reuses the stored embedding
    shutil.copy(first, gallery / "copy_c.jpg")
    report = build(gallery, stats_model, paths)
    assert report.added == ["copy_c.jpg"] and report.embedded == 0 and report.reused == 1


def test_broken_files_are_skipped_listed_and_not_retried(gallery, stats_model, tmp_path, decode_counter):
    good = min(gallery.glob("*.jpg")).read_bytes()
    (gallery / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (gallery / "notes.png").write_text("this is not a picture")
    (gallery / "empty.webp").write_bytes(b"")
    (gallery / "readme.txt").write_text("not an image extension: ignored")
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report = build(gallery, stats_model, paths)
    assert sorted(f.path for f in report.skipped) == ["empty.webp", "notes.png", "truncated.jpg"]
    assert all(f.reason for f in report.skipped)
    assert report.total == 12
    _, mapping, manifest = load(paths)
    assert "truncated.jpg" not in mapping.tolist() and "readme.txt" not in mapping.tolist()
    assert {f.path: f.status for f in manifest.files}["truncated.jpg"] == "skipped"
    assert sorted(s["path"] for s in json.loads(paths.manifest.read_text())["skipped"]) == [
        "empty.webp",
        "notes.png",
        "truncated.jpg",
    ]
    assert "skipped truncated.jpg:" in report.summary()
    decode_counter.clear()
    report = build(gallery, stats_model, paths)
    assert decode_counter == [] and len(report.skipped) == 3
    # repaired: picked up on the next run
    (gallery / "truncated.jpg").write_bytes(good)
    report = build(gallery, stats_model, paths)
    assert report.changed == ["truncated.jpg"] and len(report.skipped) == 2 and report.total == 13


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(gallery, stats_model, tmp_path):
    good = min(gallery.glob("*.jpg")).read_bytes()
    with open(os.fsencode(gallery) + b"/caf\xe9.jpg", "wb") as f:  # Latin-1 bytes in the name
        f.write(good)
    paths = IndexPaths.in_dir(tmp_path / "idx")
    for _ in range(2):
        report = build(gallery, stats_model, paths)
        assert [(f.path, f.reason) for f in report.skipped] == [("caf\\xe9.jpg", "file name is not valid UTF-8")]
        assert report.total == 12
    assert json.loads(paths.manifest.read_text())["skipped"][0]["path"] == "caf\\xe9.jpg"


def test_other_weights_rebuild_everything(gallery, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    build(gallery, PixelStatsModel("stats:1"), paths)
    other = PixelStatsModel("stats:2")
    report = build(gallery, other, paths)
    assert report.embedded == 12 and "weights or preprocessing changed" in report.note
    assert Manifest.load(paths.manifest).model_fingerprint == "stats:2"
    report = build(gallery, other, paths, preprocess=PreprocessConfig(mode="center_crop"))
    assert report.embedded == 12


def test_an_interrupted_build_resumes_from_its_checkpoints(gallery, tmp_path):
    class Crashing(PixelStatsModel):
        def __call__(self, x):
            if self.images_seen >= 8:
                raise KeyboardInterrupt  # as a Ctrl-C would, mid-build
            return super().__call__(x)

    paths = IndexPaths.in_dir(tmp_path / "idx")
    with pytest.raises(KeyboardInterrupt):
        build(gallery, Crashing(), paths)
    assert not paths.exists() and len(list(paths.checkpoint_dir.glob("chunk-*.npz"))) == 1  # flushed on the way out
    model = PixelStatsModel()
    report = build(gallery, model, paths)
    assert report.resumed == 8 and report.embedded == model.images_seen == 4
    assert not paths.checkpoint_dir.exists()
    clean = IndexPaths.in_dir(tmp_path / "clean")
    build(gallery, PixelStatsModel(), clean)
    assert np.array_equal(np.load(paths.features), np.load(clean.features))
    assert np.array_equal(np.load(paths.mapping), np.load(clean.mapping))


def test_checkpoints_of_other_weights_are_discarded(gallery, tmp_path):
    class Crashing(PixelStatsModel):
        def __call__(self, x):
            if self.images_seen >= 4:
                raise KeyboardInterrupt
            return super().__call__(x)

    paths = IndexPaths.in_dir(tmp_path / "idx")
    with pytest.raises(KeyboardInterrupt):
        build(gallery, Crashing("stats:old"), paths)
    report = build(gallery, PixelStatsModel(), paths)
    assert report.resumed == 0 and report.embedded == 12


def test_missing_folder_and_a_concurrent_build(gallery, stats_model, tmp_path):
    paths = IndexPaths.in_dir(tmp_path / "idx")
    with pytest.raises(VistaMatchError, match="gallery folder not found"):
        build(tmp_path / "nope", stats_model, paths)
    from filelock import FileLock

    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(paths.lock)), pytest.raises(LockTimeout, match="another build") as caught:
        build(gallery, stats_model, paths, lock_timeout=0.3)
    assert str(paths.lock) in str(caught.value) and "waiting 0.3 s" in str(caught.value)


def test_empty_gallery(tmp_path, stats_model):
    (tmp_path / "empty").mkdir()
    paths = IndexPaths.in_dir(tmp_path / "idx")
    report = build(tmp_path / "empty", stats_model, paths)
    assert report.total == 0
    index = open_index(paths)
    assert index.size == 0 and index.dim == 8
