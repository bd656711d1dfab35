"""The gallery folder side of a crawl: numbered file names, exact-duplicate check, atomic writes, manifest.

Files are named 000001.jpg, 000002.png, ... with the real format's extension; a number is never
handed out twice (the manifest, the folder and the state's counter are all consulted). The manifest
``urls.csv`` (file,url,sha256) gets its line before the image is renamed into place, so every image
the crawler wrote is listed; a line whose image never arrived (crash in between) is dropped on the
next start.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import threading
from pathlib import Path

from ..atomic import atomic_write_bytes, atomic_write_text, temp_target
from ..imaging import IMAGE_EXTENSIONS
from .validate import ValidImage

MANIFEST_NAME = "urls.csv"
MANIFEST_FIELDS = ("file", "url", "sha256")
NAME_DIGITS = 6
_NUMBERED = re.compile(r"^(\d+)\.\w+$")


class GalleryWriter:
    def __init__(self, out_dir: Path, min_number: int = 1):
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = out_dir / MANIFEST_NAME
        self._remove_stale_temps()
        images = sorted(p for p in out_dir.iterdir() if _is_image_file(p))
        rows, numbers = self._load_manifest()
        self.count = len(images)  # images in the folder: they count toward the target
        self.next_number = max([min_number, *(n + 1 for n in numbers), *(_number(p.name) + 1 for p in images)])
        self._hashes = {row["sha256"] for row in rows}
        listed = {row["file"] for row in rows}
        for path in images:  # images the crawler did not write (or wrote before the manifest existed)
            if path.name not in listed:
                self._hashes.add(hashlib.sha256(path.read_bytes()).hexdigest())
        self._manifest_lock = threading.Lock()

    def is_duplicate(self, image: ValidImage) -> bool:
        return image.sha256 in self._hashes

    def reserve(self, image: ValidImage) -> str:
        """Claim the image's hash and the next file name. Call from one thread (the event loop)."""
        self._hashes.add(image.sha256)
        name = f"{self.next_number:0{NAME_DIGITS}d}{image.extension}"
        self.next_number += 1
        self.count += 1
        return name

    def write(self, name: str, image: ValidImage, url: str) -> None:
        """Manifest line, then the image atomically (temp file, fsync, rename). Safe from worker threads."""
        with self._manifest_lock:
            new = not self.manifest_path.exists()
            with open(self.manifest_path, "a", encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                if new:
                    writer.writerow(MANIFEST_FIELDS)
                writer.writerow((name, url, image.sha256))
        atomic_write_bytes(self.out_dir / name, image.data)

    def _load_manifest(self) -> tuple[list[dict[str, str]], list[int]]:
        """Manifest rows whose image exists, and the numbers of every name ever listed."""
        if not self.manifest_path.exists():
            return [], []
        with open(self.manifest_path, encoding="utf-8", newline="") as f:
            rows = [row for row in csv.DictReader(f) if row.get("file") and row.get("sha256")]
        numbers = [_number(row["file"]) for row in rows]
        kept = [row for row in rows if (self.out_dir / row["file"]).is_file()]
        if len(kept) < len(rows):
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(MANIFEST_FIELDS)
            writer.writerows([row[k] for k in MANIFEST_FIELDS] for row in kept)
            atomic_write_text(self.manifest_path, buf.getvalue())
        return kept, numbers

    def _remove_stale_temps(self) -> None:
        for path in self.out_dir.iterdir():
            target = temp_target(path.name)
            if target is not None and (_NUMBERED.match(target) or target == MANIFEST_NAME):
                path.unlink(missing_ok=True)


def read_manifest(out_dir: Path) -> dict[str, str]:
    """file name -> source URL, for the images present in the folder."""
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        return {row["file"]: row["url"] for row in csv.DictReader(f) if (out_dir / row["file"]).is_file()}


def _is_image_file(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def _number(name: str) -> int:
    match = _NUMBERED.match(name)
    return int(match.group(1)) if match else 0

