"""``vistamatch search --export-dir``: the results copied into a folder that holds one query's export only.

The folder gets a marker, ``.vistamatch-export.json``, naming the query (as given, and the SHA-256 of
its bytes) and the files exported. The same query exported again replaces exactly those files; any
other query, or a folder with files but no marker, is refused with a message. So two queries' results
never mix, the files land directly in the folder (as in the original project), and nothing this
command did not write is ever deleted.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ..atomic import atomic_write_json
from ..errors import VistaMatchError
from ..search import SearchEngine, SearchResult

MARKER = ".vistamatch-export.json"


def export_results(result: SearchResult, engine: SearchEngine, folder: Path, query: str, query_sha256: str) -> int:
    """Copy each result to ``folder`` as ``001_0.9876_name.jpg``; returns how many were copied.

    Results whose file left the gallery since indexing are listed on stderr and left out.
    """
    earlier = _claim(folder, query, query_sha256)
    width = max(3, len(str(result.topk_returned)))
    copies = []
    for hit in result.hits:
        source = engine.index.resolve(hit.filename)
        if source.is_file():
            copies.append((source, f"{hit.rank:0{width}d}_{hit.score:.4f}_{source.name}"))
        else:
            print(f"warning: {hit.filename} is no longer in the gallery (re-index); not exported", file=sys.stderr)
    for name in earlier:
        (folder / name).unlink(missing_ok=True)
    # the marker lists the files before they are copied: an interrupted export is still this query's
    atomic_write_json(folder / MARKER, {"query": query, "sha256": query_sha256, "files": [name for _, name in copies]})
    for source, name in copies:
        shutil.copy2(source, folder / name)
    return len(copies)


def _claim(folder: Path, query: str, query_sha256: str) -> list[str]:
    """Make ``folder`` ready for this query's export; returns the files of its earlier export (to replace)."""
    if folder.exists() and not folder.is_dir():
        raise VistaMatchError(f"--export-dir is not a folder: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.exists():
        if any(folder.iterdir()):
            raise VistaMatchError(
                f"--export-dir {folder} is not empty and holds no export of this query; give a new or empty folder"
            )
        return []
    try:
        recorded = json.loads(marker.read_text("utf-8"))
        sha256, files = recorded["sha256"], recorded["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise VistaMatchError(f"--export-dir {folder}: unreadable {MARKER}; give a new or empty folder") from None
    if sha256 != query_sha256:
        raise VistaMatchError(
            f"--export-dir {folder} holds the results of another query ({recorded.get('query')}); "
            "give a new or empty folder"
        )
    # only plain names this command wrote: a hand-edited marker cannot delete anything elsewhere
    return [name for name in files if isinstance(name, str) and name == Path(name).name and not name.startswith(".")]
