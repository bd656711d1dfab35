"""``vistamatch index`` (build or update the gallery index) and ``vistamatch info`` (what is in it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import defaults
from ..errors import VistaMatchError
from ..imaging import PreprocessConfig
from ..wiring import EXECUTORS, update_index
from .options import (
    add_embedder_arguments,
    add_follow_links_argument,
    add_index_arguments,
    add_store_argument,
    add_weights_argument,
    given_gallery,
    index_location,
    cli_embedder_spec,
    index_paths,
    open_cli_index,
    non_negative_int,
    positive_int,
    store_kind,
)

INDEX_EXAMPLE = """\
examples:
  vistamatch index ./gallery_images              # index in ./gallery_images/.vistamatch/
  vistamatch index                               # the original layout: gallery_images/ -> ./gallery_features.npy
  vistamatch index ./photos --weights vit-dinov2-base.npz --features idx/f.npy --mapping idx/m.npy --manifest idx/m.json
  vistamatch index ./photos --device cuda --dtype bfloat16
  vistamatch index /shared/photos --executor ray --address ray://head:10001 --device auto
  vistamatch index ./photos --executor ray --urls data.csv   # download the list into ./photos, embed in the same pass
  vistamatch index ./photos --store ann

A second run embeds only new or changed files; an interrupted run continues where it stopped."""

INFO_EXAMPLE = """\
example:
  vistamatch info --gallery ~/Photos
  vistamatch info --features gallery_features.npy"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "index",
        help="build or update the gallery index",
        description="Embed every image under GALLERY_DIR (recursively) into the features/mapping/manifest files.",
        epilog=INDEX_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gallery_dir", nargs="?", type=Path, metavar="GALLERY_DIR", help="image folder (default: $GALLERY_DIR or gallery_images)")
    p.add_argument("--gallery", type=Path, help="the same as GALLERY_DIR")
    add_weights_argument(p)
    add_embedder_arguments(p)
    add_index_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per model call (default 8)")
    p.add_argument("--workers", type=positive_int, default=None, help="decoding threads (default: CPU count, at most 8)")
    p.add_argument(
        "--decode-processes", type=non_negative_int, default=None, metavar="N",
        help="decode in N worker processes (0: in the decoding threads; default: threads on the CPU, every core but one beside a GPU)",
    )  # fmt: skip
    crop = p.add_mutually_exclusive_group()
    crop.add_argument("--center-crop", dest="mode", action="store_const", const="center_crop", help="center-crop 224x224")
    crop.add_argument("--resize", dest="mode", action="store_const", const="resize", help="resize the short side to 224 (default for a new index; an index keeps its own unless told)")
    cluster = p.add_argument_group("build executor (default: this process)")
    cluster.add_argument("--executor", choices=EXECUTORS, default="local", help="local, or ray: embed on a Ray cluster (the ray extra)")
    cluster.add_argument("--address", metavar="ADDR", help="the cluster to join (default: $RAY_ADDRESS, else a local Ray instance)")
    cluster.add_argument("--shard-files", type=positive_int, default=None, metavar="N", help="files per Ray shard (default 1000)")
    cluster.add_argument(
        "--urls", type=Path, metavar="FILE",
        help="a URL list (as vistamatch crawl --csv) downloaded into GALLERY_DIR and embedded by the Ray actors in the same pass",
    )  # fmt: skip
    add_follow_links_argument(p)
    add_store_argument(p, "to build")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_index)

    q = subparsers.add_parser(
        "info",
        help="describe the gallery index",
        description="Gallery size, dimension, vector store and its measured recall, weights, build time and skipped files of an index.",
        epilog=INFO_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("--gallery", type=Path, help="describe this gallery's own index (GALLERY/.vistamatch/)")
    add_index_arguments(q)
    q.set_defaults(func=run_info)


def run_index(args: argparse.Namespace) -> int:
    gallery = given_gallery(args) or defaults.gallery_dir()
    if args.executor == "local" and (args.address or args.shard_files or args.urls):
        raise VistaMatchError("--address, --shard-files and --urls are for --executor ray")
    options = {"shard_files": args.shard_files} if args.executor == "ray" and args.shard_files else {}
    if args.executor == "local":
        options["workers"] = args.workers
        options["decode_processes"] = args.decode_processes
    elif args.decode_processes is not None:
        raise VistaMatchError("--decode-processes is for --executor local (Ray actors decode in their threads)")
    if args.urls:
        from ..index.ray_crawl import UrlList

        options["urls"] = UrlList(args.urls)
    report = update_index(
        gallery,
        cli_embedder_spec(args),
        index_paths(args),
        preprocess=PreprocessConfig(mode=args.mode) if args.mode else None,
        executor=args.executor,
        address=args.address,
        batch_size=args.batch_size,
        progress=not args.quiet,
        follow_outside_links=args.follow_outside_links or defaults.follow_outside_links(),
        store=store_kind(args),
        **options,
    )
    if report.set_aside:
        print(f"warning: index manifest {report.set_aside}", file=sys.stderr)
    if report.crawl is not None:
        from ..index.ray_crawl import summary

        print(summary(report.crawl, args.urls))
    print(report.summary())
    return 0


def run_info(args: argparse.Namespace) -> int:
    location = index_location(args)
    index = open_cli_index(args)
    m = index.manifest
    paths = index.paths
    lines = [
        f"index:      {paths.features}, {paths.mapping}, {paths.manifest if m else '(no manifest)'}",
        f"because:    {location.rule}",
        f"gallery:    {index.gallery_dir or 'unknown'}",
        f"images:     {index.size}",
        f"dimension:  {index.dim}",
        f"store:      {index.store_description}",
    ]
    if m is None:
        lines.append("weights:    unknown (index from the original project; re-index to record them)")
    else:
        lines += [
            f"weights:    {m.model_fingerprint}",
            f"preprocess: {', '.join(f'{k}={v}' for k, v in m.preprocess.items())}",
            f"built:      {m.built_at} (in {m.build_seconds:.1f} s)",
            *([f"partial:    {index.size} of {index.size + m.pending} indexed (a build is running or was interrupted)"] if m.pending else []),
            f"skipped:    {len(m.skipped)}",
            *(f"  {f.path}: {f.reason}" for f in m.skipped),
        ]
    print("\n".join(lines))
    return 0
