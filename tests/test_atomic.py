"""Crash-safe writes: the target is the old or the new content, never a mix, and no temp file is left."""

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from vistamatch.atomic import atomic_write_bytes, atomic_write_json, temp_target


def test_round_trips(tmp_path):
    atomic_write_json(tmp_path / "a" / "h.json", {"k": "é"})
    assert json.loads((tmp_path / "a" / "h.json").read_text("utf-8")) == {"k": "é"}
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b.bin"]


def test_written_files_follow_the_umask_not_owner_only(tmp_path):
    atomic_write_bytes(tmp_path / "w.bin", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "w.bin").stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_kill_9_during_rewrites_leaves_a_valid_file(tmp_path):
    target = tmp_path / "state.json"
    script = textwrap.dedent(
        f"""
        from vistamatch.atomic import atomic_write_json
        i = 0
        while True:
            atomic_write_json({str(target)!r}, {{"i": i, "pad": "x" * 200000}})
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let it rewrite many times, then kill it mid-write
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    data = json.loads(target.read_text("utf-8"))
    assert data["i"] >= 0 and len(data["pad"]) == 200000
    # Whatever the kill left beside it is recognisably a temp file of this target, so it can be cleaned up.
    assert all(temp_target(p.name) == "state.json" for p in tmp_path.iterdir() if p != target)


def test_temp_target_names_only_our_temp_files():
    assert temp_target(".000001.jpg.k3_x9a2b.tmp") == "000001.jpg"
    assert temp_target(".urls.csv.abcd1234.tmp") == "urls.csv"
    assert temp_target("000001.jpg") is None
    assert temp_target("notes.tmp") is None
