"""The history file: order, cap, thumbnails, corrupt files set aside, several processes writing at once."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from vistamatch.server.history import HistoryStore, new_entry_id, now_timestamp


def make_entry(query_name: str = "q.jpg", n_items: int = 3) -> dict:
    items = [
        {"rank": i + 1, "score": 0.9 - i / 10, "filename": f"img{i}.jpg", "url": f"/gallery_images/img{i}.jpg"}
        for i in range(n_items)
    ]
    return {
        "id": new_entry_id(),
        "ts": now_timestamp(),
        "query_name": query_name,
        "topk_requested": n_items,
        "topk_returned": n_items,
        "dedup_enabled": True,
        "duplicates_removed": 0,
        "gallery_size": 10,
        "timing_ms": {"preprocess": 1.0, "embed": 2.0, "search": 0.5, "dedup_filter": 0.1, "total": 3.6},
        "tiers": [{"name": "Perfect", "size": n_items, "score_max": 0.9, "score_min": 0.7, "avg_score": 0.8, "items": items}],
    }


def test_newest_first_capped_and_thumbnails_follow(tmp_path):
    store = HistoryStore(tmp_path / "search_history.json", max_len=3)
    ids = []
    for i in range(5):
        entry = make_entry(f"q{i}.jpg")
        store.save_thumb(entry["id"], b"RIFF-thumb-%d" % i)
        ids.append(store.add(entry)["id"])
    entries, total = store.list()
    assert total == 3
    assert [e["id"] for e in entries] == ids[::-1][:3]
    # thumbnails of entries beyond the cap are gone; the kept ones are there
    assert store.thumb_file(ids[0]) is None and store.thumb_file(ids[1]) is None
    assert store.thumb_file(ids[4]).read_bytes() == b"RIFF-thumb-4"
    # the file is the original format: a JSON list, newest first
    on_disk = json.loads((tmp_path / "search_history.json").read_text())
    assert [e["query_name"] for e in on_disk] == ["q4.jpg", "q3.jpg", "q2.jpg"]


def test_get_delete_clear(tmp_path):
    store = HistoryStore(tmp_path / "h.json")
    a = make_entry("a.jpg")
    store.save_thumb(a["id"], b"a")
    store.add(a)
    b = store.add(make_entry("b.jpg"))
    assert store.get(a["id"])["query_name"] == "a.jpg"
    assert store.delete(a["id"]) is True
    assert store.delete(a["id"]) is False
    assert store.get(a["id"]) is None and store.thumb_file(a["id"]) is None
    assert [e["id"] for e in store.list()[0]] == [b["id"]]
    assert store.clear() == 1
    assert store.list() == ([], 0)
    assert json.loads((tmp_path / "h.json").read_text()) == []


def test_thumb_file_refuses_path_like_ids(tmp_path):
    store = HistoryStore(tmp_path / "h.json")
    (tmp_path / "secret.webp").write_bytes(b"x")
    assert store.thumb_file("../secret") is None
    assert store.thumb_file("..%2fsecret") is None
    with pytest.raises(ValueError):
        store.save_thumb("../secret", b"x")
    assert (tmp_path / "secret.webp").read_bytes() == b"x"


def test_survives_a_new_store_on_the_same_file(tmp_path):
    first = HistoryStore(tmp_path / "h.json")
    entry = first.add(make_entry("kept.jpg"))
    again = HistoryStore(tmp_path / "h.json")
    assert again.get(entry["id"]) == entry


@pytest.mark.parametrize(
    "content, kept",
    [
        (b'[{"id": "abc", "ts": "2026-01-01T00:00:00", "query_na', 0),  # cut mid-write by hand
        (b"\xff\xfe not utf-8", 0),
        (b'{"id": "not a list"}', 0),
        (b"[" * 100_000 + b"]" * 100_000, 0),  # json.loads raises RecursionError
    ],
)
def test_corrupt_file_is_set_aside_and_reported(tmp_path, content, kept):
    path = tmp_path / "search_history.json"
    path.write_bytes(content)
    store = HistoryStore(path)
    assert store.list() == ([], 0)
    backups = list(tmp_path.glob("search_history.json.corrupt-*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == content  # nothing lost
    assert len(store.warnings) == 1 and backups[0].name in store.warnings[0]
    # new searches are recorded in a fresh, valid file; the backup stays untouched
    entry = store.add(make_entry())
    assert [e["id"] for e in json.loads(path.read_text())] == [entry["id"]]
    assert backups[0].read_bytes() == content


def test_a_folder_in_place_of_the_file_is_moved_aside(tmp_path):
    path = tmp_path / "search_history.json"
    path.mkdir()
    (path / "inside.txt").write_text("kept")
    store = HistoryStore(path)
    assert store.list() == ([], 0)
    (backup,) = tmp_path.glob("search_history.json.corrupt-*.bak")
    assert (backup / "inside.txt").read_text() == "kept"
    assert str(path) in store.warnings[0] and "IsADirectoryError" in store.warnings[0]
    entry = store.add(make_entry())
    assert [e["id"] for e in json.loads(path.read_text())] == [entry["id"]]


def test_hand_edited_file_keeps_valid_entries(tmp_path):
    path = tmp_path / "search_history.json"
    good = make_entry("good.jpg")
    raw = json.dumps([good, {"id": "x", "ts": "yesterday"}, "junk", good], indent=2).encode()
    path.write_bytes(raw)
    store = HistoryStore(path)
    entries, total = store.list()
    assert total == 1 and entries[0]["query_name"] == "good.jpg"
    assert "3 of 4 entries" in store.warnings[0]
    (backup,) = tmp_path.glob("*.corrupt-*.bak")
    assert backup.read_bytes() == raw


def test_original_project_entries_are_read_as_is(tmp_path):
    """An entry as the original app.py wrote it (no thumbnails, items with url) is valid."""
    path = tmp_path / "search_history.json"
    entry = make_entry("222.jpeg")
    path.write_text(json.dumps([entry], ensure_ascii=False, indent=2))
    store = HistoryStore(path)
    assert store.get(entry["id"])["tiers"][0]["items"][0]["url"] == "/gallery_images/img0.jpg"
    assert store.warnings == []


def _write_entries(path: str, worker: int, count: int) -> None:
    store = HistoryStore(path, max_len=10_000)
    for i in range(count):
        entry = make_entry(f"w{worker}-{i}.jpg")
        store.save_thumb(entry["id"], b"t")
        store.add(entry)


def test_concurrent_writes_from_several_processes_lose_nothing(tmp_path):
    path = tmp_path / "search_history.json"
    workers, per_worker = 4, 15
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_entries, args=(str(path), w, per_worker)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    entries = json.loads(path.read_text())  # valid JSON
    names = {e["query_name"] for e in entries}
    assert names == {f"w{w}-{i}.jpg" for w in range(workers) for i in range(per_worker)}
    assert len({e["id"] for e in entries}) == workers * per_worker
    # each worker's own entries stay newest first
    for w in range(workers):
        mine = [e["query_name"] for e in entries if e["query_name"].startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}.jpg" for i in reversed(range(per_worker))]
    assert len(list((tmp_path / "search_history_thumbs").glob("*.webp"))) == workers * per_worker


def test_a_stuck_lock_holder_times_out_instead_of_hanging(tmp_path, monkeypatch):
    from filelock import FileLock, Timeout

    import vistamatch.server.history as history

    monkeypatch.setattr(history, "LOCK_TIMEOUT_S", 0.2)
    store = HistoryStore(tmp_path / "h.json")
    with FileLock(f"{tmp_path / 'h.json'}.lock"):  # another holder, as a stuck process would be
        with pytest.raises(Timeout):
            store.add(make_entry())
    assert store.add(make_entry())["id"]  # free again: works


def _wait_for_more_entries(path, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(json.loads(path.read_bytes())) > count:  # replaced atomically: whole JSON
            return
        time.sleep(0.05)
    raise AssertionError(f"the writer added nothing to {path} in {timeout_s} s")


def test_kill_9_mid_write_leaves_a_valid_file(tmp_path):
    """A writer killed at random moments: the file is always whole JSON, and no entry is lost."""
    path = tmp_path / "search_history.json"
    writer = (
        "import json, sys, uuid\n"
        "from vistamatch.server.history import HistoryStore\n"
        "store = HistoryStore(sys.argv[1], max_len=100_000)\n"
        "entry = json.loads(sys.argv[2])\n"
        "while True:\n"
        "    store.add({**entry, 'id': uuid.uuid4().hex})\n"
    )
    rng = random.Random(0)
    seen: set[str] = set()
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(path), json.dumps(make_entry(n_items=50))])
        _wait_for_more_entries(path, len(seen))  # start-up takes seconds on a busy machine
        time.sleep(rng.random())  # then some writes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = HistoryStore(path)
        ids = {e["id"] for e in store.list()[0]}
        assert store.warnings == [] and list(tmp_path.glob("*.corrupt-*")) == []
        assert seen <= ids  # everything written before is still there
        seen = ids
    assert seen


def test_clear_keeps_the_thumbnail_of_a_search_still_running(tmp_path):
    store = HistoryStore(tmp_path / "h.json")
    done = make_entry("done.jpg")
    store.save_thumb(done["id"], b"done")
    store.add(done)
    running = make_entry("running.jpg")
    store.save_thumb(running["id"], b"running")  # its entry is written when the search ends
    assert store.clear() == 1
    assert store.thumb_file(done["id"]) is None
    store.add(running)
    assert store.thumb_file(running["id"]).read_bytes() == b"running"


def _age(path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.mark.parametrize("action", ["add", "clear"])
def test_orphan_thumbnails_are_pruned_once_old(tmp_path, action):
    import vistamatch.server.history as history

    store = HistoryStore(tmp_path / "h.json")
    kept = make_entry("kept.jpg")
    store.save_thumb(kept["id"], b"kept")
    store.add(kept)
    _age(store.thumb_file(kept["id"]), 2 * history.ORPHAN_GRACE_S)  # an old entry's thumbnail stays
    old_orphan, young_orphan = new_entry_id(), new_entry_id()
    store.save_thumb(old_orphan, b"crashed before its entry")
    _age(store.thumb_file(old_orphan), 2 * history.ORPHAN_GRACE_S)
    store.save_thumb(young_orphan, b"a search still running")
    (store.thumbs_dir / "notes.txt").write_text("not a thumbnail")
    _age(store.thumbs_dir / "notes.txt", 2 * history.ORPHAN_GRACE_S)
    killed_write = store.thumbs_dir / f".{kept['id']}.webp.k1ll3d.tmp"  # a write killed before its rename
    killed_write.write_bytes(b"half a thumbnail")
    _age(killed_write, 2 * history.ORPHAN_GRACE_S)

    if action == "add":
        store.add(make_entry("new.jpg"))
        assert store.thumb_file(kept["id"]).read_bytes() == b"kept"
    else:
        store.clear()
        assert store.thumb_file(kept["id"]) is None
    assert store.thumb_file(old_orphan) is None
    assert store.thumb_file(young_orphan).read_bytes() == b"a search still running"
    assert (store.thumbs_dir / "notes.txt").exists() and not killed_write.exists()


def test_query_embeddings_live_and_go_with_their_entry(tmp_path):
    import numpy as np

    import vistamatch.server.history as history

    store = HistoryStore(tmp_path / "h.json", max_len=2)
    first = make_entry("first.jpg")
    store.save_vector(first["id"], np.arange(4, dtype=np.float64))  # stored as float32
    store.add(first)
    assert store.load_vector(first["id"]).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert store.load_vector(first["id"]).dtype == np.float32
    assert store.load_vector("../h") is None and store.load_vector(new_entry_id()) is None
    # the file keeps the original format: the embedding is beside it, not in it
    text = (tmp_path / "h.json").read_text()
    assert "[0.0, 1.0, 2.0, 3.0]" not in text and "NUMPY" not in text

    orphan = new_entry_id()  # a search killed between its embedding and its entry
    store.save_vector(orphan, np.ones(4))
    _age(store.thumbs_dir / f"{orphan}.npy", 2 * history.ORPHAN_GRACE_S)
    store.add(make_entry("second.jpg"))
    assert not (store.thumbs_dir / f"{orphan}.npy").exists()
    store.add(make_entry("third.jpg"))  # max_len 2: the first entry is dropped, with its embedding
    assert not (store.thumbs_dir / f"{first['id']}.npy").exists()

    kept = make_entry("kept.jpg")
    store.save_vector(kept["id"], np.ones(4))
    store.add(kept)
    store.delete(kept["id"])
    assert store.load_vector(kept["id"]) is None


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY garbage", "pickle"])
def test_a_broken_stored_embedding_reads_as_none(tmp_path, content):
    import numpy as np

    store = HistoryStore(tmp_path / "h.json")
    entry_id = new_entry_id()
    store.thumbs_dir.mkdir()
    path = store.thumbs_dir / f"{entry_id}.npy"
    if content == "pickle":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)  # never unpickled
    else:
        path.write_bytes(content)
    assert store.load_vector(entry_id) is None
