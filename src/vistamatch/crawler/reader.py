"""Stream URLs from a list file in constant memory: CSV/TSV, plain text (one URL a line), Parquet.

Rows come one at a time with a resume position, so a crawl starts at once on a 5-million-row file
and a later run can seek back to where the previous one stopped.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import VistaMatchError

SAMPLE_ROWS = 200  # rows read to detect the URL column
_URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)
_TEXT_SUFFIXES = {".txt", ".list", ".urls"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}


class SourceRow(NamedTuple):
    index: int  # 0-based data row (a header is not a row)
    url: str  # stripped; "" when the cell is empty
    resume_at: int  # where reading continues after this row: byte offset (text), row number (Parquet)


def looks_like_url(value: str) -> bool:
    return bool(_URL_RE.match(value.strip()))


class TextLines:
    """Binary lines decoded one by one: the given encoding first, then GBK (as the original), never failing."""

    def __init__(self, path: Path, encoding: str | None, start: int = 0):
        self.path = path
        self.encodings = tuple(dict.fromkeys([encoding or "utf-8", "gbk"]))
        self.start = start
        self.position = start  # byte offset just after the last line handed out

    def __iter__(self) -> Iterator[str]:
        with open(self.path, "rb") as f:
            f.seek(self.start)
            for raw in f:
                if self.position == 0 and raw.startswith(b"\xef\xbb\xbf"):
                    self.position += 3
                    raw = raw[3:]
                self.position += len(raw)
                yield self._decode(raw)

    def _decode(self, raw: bytes) -> str:
        for encoding in self.encodings:
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        return raw.decode("utf-8", errors="replace")


class TextSource:
    """One URL per line; blank lines and lines starting with # are empty rows."""

    column = None

    def __init__(self, path: Path, encoding: str | None = None):
        self.path = path
        self.encoding = encoding

    def rows(self, start_row: int = 0, resume_at: int = 0) -> Iterator[SourceRow]:
        lines = TextLines(self.path, self.encoding, resume_at)
        for index, line in enumerate(lines, start=start_row):
            url = line.strip()
            yield SourceRow(index, "" if url.startswith("#") else url, lines.position)


class CsvSource:
    """A delimited file; the URL column is named, numbered, or detected from the first rows."""

    def __init__(self, path: Path, column: str | None = None, encoding: str | None = None):
        self.path = path
        self.encoding = encoding
        self.delimiter = self._sniff_delimiter()
        first_rows = list(itertools.islice(self._records(0), SAMPLE_ROWS + 1))
        if not first_rows:
            raise VistaMatchError(f"{path}: the file is empty")
        header = [cell.strip() for cell in first_rows[0][0]]
        self.has_header = not any(looks_like_url(cell) for cell in header)
        self.data_start = first_rows[0][1] if self.has_header else 0
        sample = [cells for cells, _ in (first_rows[1:] if self.has_header else first_rows)]
        names = header if self.has_header else [str(i) for i in range(len(header))]
        self.column_index = _pick_column(names, sample, column, path)
        self.column = names[self.column_index]

    def _sniff_delimiter(self) -> str:
        if self.path.suffix.lower() in (".tsv", ".tab"):
            return "\t"
        first = next(iter(TextLines(self.path, self.encoding)), "")
        return "\t" if first.count("\t") > first.count(",") else ","

    def _records(self, resume_at: int) -> Iterator[tuple[list[str], int]]:
        lines = TextLines(self.path, self.encoding, resume_at)
        reader = csv.reader(lines, delimiter=self.delimiter)
        try:
            for cells in reader:
                yield cells, lines.position
        except csv.Error as exc:
            raise VistaMatchError(f"{self.path}: unreadable CSV near line {reader.line_num}: {exc}") from None

    def rows(self, start_row: int = 0, resume_at: int = 0) -> Iterator[SourceRow]:
        col = self.column_index
        records = self._records(max(resume_at, self.data_start))
        for index, (cells, position) in enumerate(records, start=start_row):
            url = cells[col].strip() if col < len(cells) else ""
            yield SourceRow(index, url, position)


class ParquetSource:
    """A Parquet file read in batches of ``chunksize`` rows, only the URL column."""

    def __init__(self, path: Path, column: str | None = None, chunksize: int = 10_000):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise VistaMatchError("reading Parquet needs pyarrow: pip install pyarrow") from None
        self.path = path
        self.chunksize = chunksize
        self.file = pq.ParquetFile(path)
        names = list(self.file.schema_arrow.names)
        sample: list[list[str]] = []
        if self.file.metadata.num_rows:
            batch = next(self.file.iter_batches(batch_size=SAMPLE_ROWS))
            columns = [[str(v) if v is not None else "" for v in col.to_pylist()] for col in batch.columns]
            sample = [list(row) for row in zip(*columns)]
        self.column = names[_pick_column(names, sample, column, path)]

    def rows(self, start_row: int = 0, resume_at: int = 0) -> Iterator[SourceRow]:
        meta = self.file.metadata
        first_group, group_start = 0, 0
        while first_group < meta.num_row_groups and group_start + meta.row_group(first_group).num_rows <= start_row:
            group_start += meta.row_group(first_group).num_rows
            first_group += 1
        groups = list(range(first_group, meta.num_row_groups))
        if not groups:
            return
        index = group_start
        for batch in self.file.iter_batches(batch_size=self.chunksize, columns=[self.column], row_groups=groups):
            for value in batch.column(0).to_pylist():
                if index >= start_row:
                    yield SourceRow(index, str(value).strip() if value is not None else "", index + 1)
                index += 1


UrlSource = TextSource | CsvSource | ParquetSource


def open_url_source(
    path: str | Path, column: str | None = None, encoding: str | None = None, chunksize: int = 10_000
) -> UrlSource:
    """Pick the reader by suffix: .parquet/.pq, .txt/.list/.urls, anything else is CSV/TSV."""
    path = Path(path)
    if not path.is_file():
        raise VistaMatchError(f"URL list not found: {path}")
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        return ParquetSource(path, column, chunksize)
    if suffix in _TEXT_SUFFIXES:
        return TextSource(path, encoding)
    return CsvSource(path, column, encoding)


def _pick_column(names: list[str], sample: list[list[str]], wanted: str | None, path: Path) -> int:
    """The named column (exact, then case-insensitive, then a number), else the one with most URLs."""
    if wanted is not None:
        for match in (lambda n: n == wanted, lambda n: n.lower() == wanted.strip().lower()):
            hits = [i for i, name in enumerate(names) if match(name)]
            if hits:
                return hits[0]
        if wanted.isdigit() and int(wanted) < len(names):
            return int(wanted)
        raise VistaMatchError(f"{path}: no column {wanted!r}; columns: {', '.join(names)}")
    counts = [sum(1 for row in sample if i < len(row) and looks_like_url(row[i])) for i in range(len(names))]
    if not counts or max(counts) == 0:
        raise VistaMatchError(
            f"{path}: no column holds URLs in the first {SAMPLE_ROWS} rows; pass --col (columns: {', '.join(names)})"
        )
    # most URLs wins; among equals, a name that says "url"
    return max(range(len(names)), key=lambda i: (counts[i], "url" in names[i].lower()))
