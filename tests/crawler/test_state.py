"""The crawl journal: marks, out-of-order finishes, torn lines; the writer's never-reused names."""

from __future__ import annotations

import json

from vistamatch.crawler.reader import SourceRow
from vistamatch.crawler.state import CrawlState
from vistamatch.crawler.validate import ValidImage
from vistamatch.crawler.writer import GalleryWriter


def row(i: int) -> SourceRow:
    return SourceRow(i, f"http://h/{i}", 100 * (i + 1))


def test_mark_waits_for_the_lowest_unfinished_row(tmp_path):
    path = tmp_path / "s.jsonl"
    state = CrawlState(path)
    for i in range(4):
        state.begin(row(i))
    state.finish(0, "http://h/0", "saved", "000001.jpg")
    state.finish(2, "http://h/2", "http_404")  # finished out of order; row 1 still in flight
    state.close(next_number=2)  # killed here, in effect: rows 1 and 3 never finished

    again = CrawlState(path)
    assert (again.resume.row, again.resume.at, again.resume.next_number) == (1, 100, 2)
    assert again.resume.done_after == {2}
    assert again.is_done(2) and not again.is_done(1) and not again.is_done(3)
    assert again.resume.finished_before == 2


def test_skipped_rows_move_the_mark_without_journal_lines(tmp_path):
    path = tmp_path / "s.jsonl"
    state = CrawlState(path)
    for i in range(1000):
        state.skip(row(i))
    state.close(next_number=1)
    assert len(path.read_text().splitlines()) == 1
    assert CrawlState(path).resume.row == 1000


def test_a_torn_last_line_is_cut_off(tmp_path):
    path = tmp_path / "s.jsonl"
    state = CrawlState(path)
    state.begin(row(0))
    state.finish(0, "http://h/0", "timeout")
    state.close(next_number=1)
    with open(path, "a") as f:
        f.write('{"row": 1, "url": "http://h/1", "outc')  # kill -9 in the middle of a write
    again = CrawlState(path)
    assert again.resume.row == 1
    again.begin(row(1))
    again.finish(1, "http://h/1", "http_404")
    again.close(next_number=1)
    records = [json.loads(line) for line in path.read_text().splitlines()]  # every line parses
    assert [r.get("row") for r in records if "row" in r] == [0, 1]


def test_file_numbers_are_never_reused(tmp_path):
    gallery = tmp_path / "g"
    image = ValidImage(data=b"x" * 10, extension=".jpg", width=1, height=1, sha256="a" * 64)
    writer = GalleryWriter(gallery)
    name = writer.reserve(image)
    writer.write(name, image, "http://h/a")
    assert name == "000001.jpg"
    (gallery / name).unlink()  # the user deletes it
    assert GalleryWriter(gallery).next_number == 2  # the manifest remembers the name
    assert GalleryWriter(gallery, min_number=9).next_number == 9  # and the state's counter wins when higher


def test_stale_temp_files_and_dangling_manifest_lines_are_cleaned(tmp_path):
    gallery = tmp_path / "g"
    gallery.mkdir()
    (gallery / ".000003.jpg.abcd1234.tmp").write_bytes(b"half an image")
    (gallery / "urls.csv").write_text("file,url,sha256\n000003.jpg,http://h/3,ffff\n")  # crash before rename
    (gallery / ".keep.tmp").write_text("someone else's")
    writer = GalleryWriter(gallery)
    assert not (gallery / ".000003.jpg.abcd1234.tmp").exists()
    assert (gallery / ".keep.tmp").exists()
    assert (gallery / "urls.csv").read_text().splitlines() == ["file,url,sha256"]
    assert writer.count == 0
