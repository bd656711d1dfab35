"""``vistamatch duplicates``: every group of exact and near-duplicate images in the gallery index,
``--move-to-trash`` to put the duplicates away, and ``undo``, ``redo``, ``trash list|empty``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..duplicates import DEFAULT_THRESHOLD, DuplicateReport, Member, find_duplicate_groups
from ..duplicates.finder import SORTS
from ..duplicates.trash import DEFAULT_MIN_SIMILARITY, Trash, TrashResult
from ..errors import VistaMatchError
from .options import add_index_arguments, open_cli_index

EXAMPLE = """\
examples:
  vistamatch duplicates
  vistamatch duplicates --threshold 0.97 --min-size 3 --sort space
  vistamatch duplicates --prefer 'originals/*' --json > duplicates.json
  vistamatch duplicates --csv > duplicates.csv
  vistamatch duplicates --move-to-trash --dry-run
  vistamatch duplicates --move-to-trash
  vistamatch duplicates undo

Groups form around a keeper: every member is within the threshold of it, so groups never grow by
chaining. The keeper is the file matching --prefer, then the most pixels, then the largest file,
then the oldest, then the shortest path. Listing moves nothing; --move-to-trash moves each
group's duplicates into GALLERY/.vistamatch-trash/<batch>/ (relative paths kept, nothing deleted,
the index updated); `undo` puts them back exactly. The neighbour graph is cached beside the index
(gallery_features.neighbours.npz), so a second run with any threshold of 0.90 or more is instant
until the index changes."""


def threshold_value(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def group_size(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a group has at least 2 images, got {value}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "duplicates",
        help="list groups of duplicate images in the gallery, move them to the trash, undo",
        description="Every group of exact copies and near duplicates (cosine >= threshold to the group's keeper).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--threshold",
        type=threshold_value,
        default=DEFAULT_THRESHOLD,
        help=f"least cosine to the keeper (default {DEFAULT_THRESHOLD}: resized and re-encoded copies)",
    )
    p.add_argument("--min-size", type=group_size, default=2, metavar="N", help="list groups of at least N images (default 2)")
    p.add_argument("--sort", choices=SORTS, default="size", help="most images first (size, default) or most bytes in duplicates")
    p.add_argument("--prefer", metavar="GLOB", help="keep files whose gallery-relative path matches GLOB first")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the groups and the nearest-neighbour histogram as JSON")
    output.add_argument("--csv", action="store_true", help="print one CSV row per image: group, role, score, facts, path")
    p.add_argument("--no-cache", dest="use_cache", action="store_false", help="recompute the neighbour graph, do not store it")
    p.add_argument(
        "--move-to-trash",
        action="store_true",
        help="move every group's duplicates into the gallery's .vistamatch-trash/ (undo restores them)",
    )
    p.add_argument("--dry-run", action="store_true", help="with --move-to-trash: show what would move, move nothing")
    add_place_arguments(p)
    p.set_defaults(func=run_duplicates)

    actions = p.add_subparsers(dest="action", metavar="{undo,redo,trash}", title="clean-up (options after the word)")
    undo = actions.add_parser("undo", help="put a trash batch back where it was (default: the newest)")
    redo = actions.add_parser("redo", help="finish moving a batch a kill interrupted")
    for q, run in ((undo, run_undo), (redo, run_redo)):
        q.add_argument("batch", nargs="?", help="the batch id (see `duplicates trash list`)")
        add_place_arguments(q)
        q.set_defaults(func=run)
    trash = actions.add_parser("trash", help="list the trash batches, or empty them (deletes for good)")
    trash.add_argument("what", choices=("list", "empty"))
    trash.add_argument("batch", nargs="?", help="empty: only this batch (default: every finished batch)")
    trash.add_argument("--json", action="store_true", help="list: print the batches as JSON")
    add_place_arguments(trash)
    trash.set_defaults(func=run_trash)


def add_place_arguments(p) -> None:
    p.add_argument("--gallery", type=Path, help="gallery folder (default: the one recorded in the index)")
    add_index_arguments(p)


def cli_trash(args: argparse.Namespace) -> Trash:
    index = open_cli_index(args, gallery_dir=args.gallery)
    if index.gallery_dir is None:
        raise VistaMatchError("the gallery folder of this index is unknown: pass --gallery")
    return Trash(index.gallery_dir, index.paths)


def run_duplicates(args: argparse.Namespace) -> int:
    if args.dry_run and not args.move_to_trash:
        raise VistaMatchError("--dry-run goes with --move-to-trash")
    index = open_cli_index(args, gallery_dir=args.gallery)
    report = find_duplicate_groups(
        index, args.threshold, min_size=args.min_size, prefer=args.prefer, sort=args.sort, use_cache=args.use_cache
    )
    for note in report.notes:
        print(f"warning: {note}", file=sys.stderr)
    if report.missing:
        print(f"warning: {len(report.missing)} indexed files are no longer in the gallery (left out; re-index)", file=sys.stderr)
    if args.move_to_trash:
        moves = {m.path: g.keeper.path for g in report.groups for m in g.duplicates}
        trash = Trash(index.gallery_dir, index.paths)
        # each file is checked again: a duplicate of its keeper (this threshold, at most 0.90), unchanged since indexing
        result = trash.move(moves, min_similarity=min(args.threshold, DEFAULT_MIN_SIMILARITY), dry_run=args.dry_run)
        return print_result(result, trash)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    elif args.csv:
        write_csv(report, sys.stdout)
    else:
        print(format_groups(report, index))
    return 0


def run_undo(args: argparse.Namespace) -> int:
    trash = cli_trash(args)
    return print_result(trash.undo(args.batch), trash)


def run_redo(args: argparse.Namespace) -> int:
    trash = cli_trash(args)
    return print_result(trash.redo(args.batch), trash)


def run_trash(args: argparse.Namespace) -> int:
    trash = cli_trash(args)
    if args.what == "empty":
        for batch in trash.empty(args.batch):
            print(f"deleted batch {batch.id}: {len(batch.entries)} files, {_bytes(batch.bytes)}")
        return 0
    batches = trash.batches()
    for warning in trash.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps([b.to_dict() for b in batches], ensure_ascii=False, indent=2))
    for batch in [] if args.json else batches:
        print(f"{batch.id}  {batch.state:<9}  {len(batch.entries):>5} files  {_bytes(batch.bytes):>9}  {batch.folder}")
    if not batches and not args.json:
        print(f"the trash is empty ({trash.root})")
    return 0


def print_result(result: TrashResult, trash: Trash) -> int:
    """What moved (or would), what was refused and why; 1 when something was refused."""
    for warning in trash.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    restoring = result.batch is not None and result.batch.state in ("restoring", "restored")
    verb = "would move" if result.dry_run else ("restored" if restoring else "moved")
    for path in result.done:
        print(f"{verb}  {path}")
    for path, why in result.refused:
        print(f"refused  {path}: {why}", file=sys.stderr)
    if result.batch is not None:
        b = result.batch
        print(f"batch {b.id} ({b.state}): {len(result.done)} files; undo with: vistamatch duplicates undo {b.id}")
    elif not result.dry_run and not result.refused:
        print("nothing to move")
    return 1 if result.refused else 0


def format_groups(report: DuplicateReport, index) -> str:
    lines = [f"  {'role':<5}  {'score':>6}  {'dimensions':>11}  {'size':>9}  {'modified UTC':<16}  path"] if report.groups else []
    for number, group in enumerate(report.groups, 1):
        lines.append(f"group {number}: {group.size} images, {_bytes(group.reclaimable)} in duplicates")
        lines.append(_row("keep", group.keeper, index))
        lines += [_row("exact" if m.exact else "near", m, index) for m in group.duplicates]
    duplicates = sum(len(g.duplicates) for g in report.groups)
    freed = sum(g.reclaimable for g in report.groups)
    source = "from the cache" if report.cache == "hit" else f"computed in {report.graph_seconds:.1f} s"
    lines.append(
        f"{len(report.groups)} groups, {duplicates} duplicates ({_bytes(freed)}) among {report.gallery_size} images "
        f"at threshold {report.threshold:g}; neighbour graph {source}"
    )
    return "\n".join(lines)


CSV_COLUMNS = ("group", "role", "similarity", "width", "height", "size", "mtime_ns", "path")


def write_csv(report: DuplicateReport, out) -> None:
    """One row per image, keeper first in each group; paths gallery-relative, as in --json."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for number, group in enumerate(report.groups, 1):
        for role, m in [("keep", group.keeper), *(("exact" if d.exact else "near", d) for d in group.duplicates)]:
            writer.writerow([number, role, f"{m.similarity:.6f}", m.width or "", m.height or "", m.size, m.mtime_ns, m.path])


def _row(role: str, m: Member, index) -> str:
    dims = f"{m.width}x{m.height}" if m.width else "?"
    date = datetime.fromtimestamp(m.mtime_ns / 1e9, timezone.utc).strftime("%Y-%m-%d %H:%M")
    return f"  {role:<5}  {m.similarity:6.4f}  {dims:>11}  {_bytes(m.size):>9}  {date}  {index.resolve(m.path)}"


def _bytes(n: float) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}"
