"""``vistamatch search QUERY``: Top-K gallery images like QUERY (a file or a URL), deduplicated and tiered."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from .. import defaults
from ..errors import VistaMatchError
from ..search import TIER_POLICIES, SearchEngine, SearchResult
from .export import MARKER, export_results
from .options import (
    add_index_arguments,
    add_store_argument,
    add_weights_argument,
    add_embedder_arguments,
    cli_embedder_spec,
    open_cli_index,
    positive_float,
    positive_int,
    store_kind,
)
from .query import read_query

EXAMPLE = f"""\
examples:
  vistamatch search query.jpg --topk 50
  vistamatch search query.jpg --topk 20 --no-dedup --export-dir results_top50
  vistamatch search --query https://example.com/photo.jpg --json > result.json

--export-dir copies the results as RANK_SCORE_NAME, e.g. 001_0.9876_000123.jpg, and records the query
in {MARKER}: the same query replaces its earlier export, another query's folder is refused.
A URL is fetched with the crawler's limits; loopback, private and link-local addresses are refused
unless --allow-private-urls is given."""


def topk_value(text: str) -> int:
    """--topk within the API's bounds."""
    value = positive_int(text)
    if value > defaults.TOPK_MAX:
        raise argparse.ArgumentTypeError(f"at most {defaults.TOPK_MAX} (as in the API), got {value}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="find the gallery images most similar to an image",
        description="Top-K search of the gallery index with an image: rank, score, tier and path of each result.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("query", nargs="?", metavar="QUERY", help="the query: an image file or an http(s) URL")
    p.add_argument("--query", dest="query_option", metavar="QUERY", help="the same, as a flag (the original script's)")
    p.add_argument(
        "--topk", type=topk_value, default=defaults.TOPK_DEFAULT,
        help=f"number of results, {defaults.TOPK_MIN}..{defaults.TOPK_MAX} (default {defaults.TOPK_DEFAULT})",
    )
    p.add_argument("--no-dedup", dest="dedup", action="store_false", help="keep same-name and near-duplicate results")
    p.add_argument("--export-dir", type=Path, help="copy the results into this folder (new, empty, or this query's)")
    p.add_argument("--json", action="store_true", help="print the machine-readable result (the API's JSON)")
    p.add_argument("--tiers", choices=TIER_POLICIES, default="quantile", help="tier policy (default quantile)")
    p.add_argument("--gallery", type=Path, help="gallery folder (default: the one recorded in the index)")
    url = p.add_argument_group("query by URL")
    url.add_argument("--allow-private-urls", action="store_true", help="allow loopback, private and link-local addresses")
    url.add_argument("--url-timeout", type=positive_float, default=10.0, metavar="S", help="seconds for one try (default 10)")
    url.add_argument(
        "--url-max-bytes", type=positive_int, default=20 * 1024 * 1024, metavar="N",
        help="larger bodies are refused while streaming (default 20 MiB)",
    )
    add_weights_argument(p)
    add_embedder_arguments(p)
    add_index_arguments(p)
    add_store_argument(p, "to search with")
    p.set_defaults(func=run_search)


def run_search(args: argparse.Namespace) -> int:
    query_text = _query_text(args)
    query = read_query(
        query_text, allow_private=args.allow_private_urls, timeout_s=args.url_timeout, max_bytes=args.url_max_bytes
    )
    embedder = cli_embedder_spec(args).load()
    index = open_cli_index(args, gallery_dir=args.gallery, store=store_kind(args))
    engine = SearchEngine(embedder, index, tier_policy=args.tiers)
    result = engine.search_image(query.data, topk=args.topk, dedup=args.dedup, name=query.name)
    exported = None
    if args.export_dir:
        sha256 = hashlib.sha256(query.data).hexdigest()
        exported = export_results(result, engine, args.export_dir, query.name, sha256)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_table(result, engine))
        if exported is not None:
            print(f"copied {exported} files to {args.export_dir}")
    return 0


def _query_text(args: argparse.Namespace) -> str:
    given = [q for q in (args.query, args.query_option) if q is not None]
    if len(given) != 1:
        raise VistaMatchError("give one query: vistamatch search QUERY (an image file or an http(s) URL)")
    return given[0]
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
    if result.partial:
        lines.append(f"{result.partial['message']} (the index is still being built)")
    return "\n".join(lines)


def _display_path(engine: SearchEngine, relative: str) -> str:
    return str(engine.index.resolve(relative)) if engine.index.gallery_dir else relative
