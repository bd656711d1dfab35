"""``vistamatch search QUERY``: Top-K gallery images like QUERY, deduplicated and tiered."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ..errors import VistaMatchError
from ..search import TIER_POLICIES, SearchEngine, SearchResult
from .options import (
    add_index_arguments,
    add_weights_argument,
    add_embedder_arguments,
    cli_embedder_spec,
    open_cli_index,
    positive_int,
)

EXAMPLE = """\
examples:
  vistamatch search query.jpg --topk 50
  vistamatch search query.jpg --topk 20 --no-dedup --export-dir results_top50
  vistamatch search query.jpg --json > result.json

--export-dir copies the results as RANK_SCORE_NAME, e.g. 001_0.9876_000123.jpg."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="find the gallery images most similar to an image",
        description="Top-K search of the gallery index with an image: rank, score, tier and path of each result.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", type=Path, metavar="QUERY", help="the query image file")
    p.add_argument("--topk", type=positive_int, default=50, help="number of results (default 50)")
    p.add_argument("--no-dedup", dest="dedup", action="store_false", help="keep same-name and near-duplicate results")
    p.add_argument("--export-dir", type=Path, help="copy the results into this folder, named by rank and score")
    p.add_argument("--json", action="store_true", help="print the machine-readable result (the API's JSON)")
    p.add_argument("--tiers", choices=TIER_POLICIES, default="quantile", help="tier policy (default quantile)")
    p.add_argument("--gallery", type=Path, help="gallery folder (default: the one recorded in the index)")
    add_weights_argument(p)
    add_embedder_arguments(p)
    add_index_arguments(p)
    p.set_defaults(func=run_search)


def run_search(args: argparse.Namespace) -> int:
    if not args.query.is_file():
        raise VistaMatchError(f"query image not found: {args.query}")
    embedder = cli_embedder_spec(args).load()
    index = open_cli_index(args, gallery_dir=args.gallery)
    engine = SearchEngine(embedder, index, tier_policy=args.tiers)
    result = engine.search_image(args.query, topk=args.topk, dedup=args.dedup)
    exported = export_results(result, engine, args.export_dir) if args.export_dir else None
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_table(result, engine))
        if exported is not None:
            print(f"copied {exported} files to {args.export_dir}")
    return 0


def format_table(result: SearchResult, engine: SearchEngine) -> str:
    lines = [f"{'rank':>4}  {'score':>6}  {'tier':<10}  path"]
    for tier in result.tiers:
        for hit in tier.items:
            lines.append(f"{hit.rank:>4}  {hit.score:6.4f}  {tier.name:<10}  {_display_path(engine, hit.filename)}")
    t = result.timing_ms
    lines.append(
        f"{result.topk_returned} of {result.gallery_size} images, {result.duplicates_removed} duplicates removed, "
        f"{t['total']:.0f} ms (preprocess {t['preprocess']:.0f}, embed {t['embed']:.0f}, "
        f"search {t['search']:.1f}, dedup {t['dedup_filter']:.1f})"
    )
    return "\n".join(lines)


def export_results(result: SearchResult, engine: SearchEngine, folder: Path) -> int:
    """Copy each result to ``folder`` as ``001_0.9876_name.jpg``; returns how many were copied.

    Results whose file left the gallery since indexing are listed on stderr and left out.
    """
    folder.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(result.topk_returned)))
    copied = 0
    for hit in result.hits:
        source = engine.index.resolve(hit.filename)
        if not source.is_file():
            print(f"warning: {hit.filename} is no longer in the gallery (re-index); not exported", file=sys.stderr)
            continue
        shutil.copy2(source, folder / f"{hit.rank:0{width}d}_{hit.score:.4f}_{source.name}")
        copied += 1
    return copied


def _display_path(engine: SearchEngine, relative: str) -> str:
    return str(engine.index.resolve(relative)) if engine.index.gallery_dir else relative
