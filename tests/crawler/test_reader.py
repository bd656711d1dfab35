"""URL lists: CSV/TSV/txt/Parquet, column detection, GBK fallback, resuming from a saved position."""

from __future__ import annotations

import pytest

from vistamatch.crawler import open_url_source
from vistamatch.errors import VistaMatchError

from .helpers import write_csv

URLS = [f"https://img.example.com/{i}.jpg" for i in range(50)]


def urls_of(source, **start) -> list[str]:
    return [row.url for row in source.rows(**start)]


def test_csv_by_column_name(tmp_path):
    source = open_url_source(write_csv(tmp_path / "a.csv", URLS, column="image_url"), column="image_url")
    assert source.column == "image_url"
    assert urls_of(source) == URLS


def test_column_name_case_insensitive_and_missing_column_error(tmp_path):
    path = write_csv(tmp_path / "a.csv", URLS, column="Image_URL")
    assert open_url_source(path, column="image_url").column == "Image_URL"
    with pytest.raises(VistaMatchError, match="no column 'link'.*id, caption, Image_URL"):
        open_url_source(path, column="link")


def test_detects_the_column_that_holds_urls(tmp_path):
    path = tmp_path / "b.csv"
    lines = ["name,homepage_note,pic"] + [f"n{i},see docs,{u}" for i, u in enumerate(URLS)]
    path.write_text("\n".join(lines) + "\n")
    source = open_url_source(path)
    assert source.column == "pic"
    assert urls_of(source) == URLS


def test_headerless_file_and_tsv(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("".join(f"{i},{u}\n" for i, u in enumerate(URLS)))
    source = open_url_source(path)
    assert urls_of(source) == URLS  # the first line is a URL row, not a header
    tsv = tmp_path / "d.tsv"
    tsv.write_text("caption\turl\n" + "".join(f"a, b and c\t{u}\n" for u in URLS))
    assert urls_of(open_url_source(tsv)) == URLS


def test_no_url_column_is_a_clear_error(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(VistaMatchError, match="no column holds URLs.*pass --col"):
        open_url_source(path)


def test_gbk_file_falls_back_from_utf8(tmp_path):
    path = tmp_path / "gbk.csv"
    with open(path, "w", encoding="gbk", newline="") as f:
        f.write("编号,说明,图片链接\n")
        for i, url in enumerate(URLS):
            f.write(f"{i},一张猫的照片 {i},{url}\n")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    source = open_url_source(path, column="图片链接")
    assert urls_of(source) == URLS
    assert open_url_source(path).column == "图片链接"


def test_utf8_bom_and_quoted_fields_with_newlines(tmp_path):
    path = tmp_path / "bom.csv"
    body = 'url,caption\n' + "".join(f'{u},"line one\nline two, {i}"\n' for i, u in enumerate(URLS))
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    source = open_url_source(path, column="url")
    assert urls_of(source) == URLS


def test_text_file_one_url_per_line(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# my urls\n" + "\n".join(URLS[:10]) + "\n\n" + "\n".join(URLS[10:]) + "\n")
    rows = list(open_url_source(path).rows())
    assert [r.url for r in rows if r.url] == URLS
    assert len(rows) == len(URLS) + 2  # the comment and the blank line are empty rows


def test_parquet_source_with_small_batches(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="Parquet input needs pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "urls.parquet"
    table = pa.table({"key": list(range(len(URLS))), "URL": URLS, "caption": ["x"] * len(URLS)})
    pq.write_table(table, path, row_group_size=7)
    source = open_url_source(path, chunksize=5)
    assert source.column == "URL"
    assert urls_of(source) == URLS
    assert urls_of(source, start_row=23, resume_at=23) == URLS[23:]


@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_resume_position_continues_exactly_after_a_row(tmp_path, suffix):
    path = tmp_path / f"list{suffix}"
    if suffix == ".csv":
        write_csv(path, URLS)
    else:
        path.write_text("\n".join(URLS) + "\n")
    source = open_url_source(path)
    rows = list(source.rows())
    for cut in (0, 1, 17, 49):
        after = rows[cut]
        assert urls_of(source, start_row=after.index + 1, resume_at=after.resume_at) == URLS[cut + 1:]
    assert [r.index for r in source.rows(start_row=18, resume_at=rows[17].resume_at)] == list(range(18, 50))


def test_missing_file(tmp_path):
    with pytest.raises(VistaMatchError, match="not found"):
        open_url_source(tmp_path / "nope.csv")
