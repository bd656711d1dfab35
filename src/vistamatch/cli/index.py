"""``vistamatch index`` (build or update the gallery index) and ``vistamatch info`` (what is in it).

Also the options and loaders the search command shares: index paths and weights.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .. import defaults
from ..imaging import PreprocessConfig
from ..index import IndexPaths, build_index, open_index

INDEX_EXAMPLE = """\
examples:
  vistamatch index ./gallery_images
  vistamatch index ./photos --weights vit-dinov2-base.npz --features idx/f.npy --mapping idx/m.npy --manifest idx/m.json

A second run embeds only new or changed files; an interrupted run continues where it stopped."""

INFO_EXAMPLE = """\
example:
  vistamatch info --features gallery_features.npy"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "index",
        help="build or update the gallery index",
        description="Embed every image under GALLERY_DIR (recursively) into the features/mapping/manifest files.",
        epilog=INDEX_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gallery", nargs="?", type=Path, metavar="GALLERY_DIR", help="image folder (default: $GALLERY_DIR or gallery_images)")
    add_weights_argument(p)
    add_index_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=8, help="images per model call (default 8)")
    p.add_argument("--workers", type=positive_int, default=None, help="decoding threads (default: CPU count, at most 8)")
    p.add_argument("--center-crop", action="store_true", help="center-crop 224x224 instead of resizing the short side to 224")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_index)

    q = subparsers.add_parser(
        "info",
        help="describe the gallery index",
        description="Gallery size, dimension, weights, build time and skipped files of an index.",
        epilog=INFO_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_index_arguments(q)
    q.set_defaults(func=run_info)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", help="DINOv2 weights file or model name (default: $WEIGHTS_PATH or vit-dinov2-base.npz)"
    )


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("index files (defaults: the original layout, or $GALLERY_FEATURES_PATH etc.)")
    group.add_argument("--features", type=Path, help="features .npy (default gallery_features.npy)")
    group.add_argument("--mapping", type=Path, help="mapping .npy (default gallery_mapping.npy)")
    group.add_argument("--manifest", type=Path, help="manifest .json (default: beside the features)")


def index_paths(args: argparse.Namespace) -> IndexPaths:
    features = args.features or defaults.features_path()
    manifest = args.manifest or (
        features.with_name("gallery_manifest.json") if args.features else defaults.manifest_path()
    )
    return IndexPaths(features, args.mapping or defaults.mapping_path(), manifest)


def load_cli_model(args: argparse.Namespace):
    from ..model import load_model, resolve_weights

    return load_model(resolve_weights(args.weights) if args.weights else resolve_weights())


def open_cli_index(args: argparse.Namespace, **options):
    """open_index, with its warning (an unverifiable index) printed as one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = open_index(index_paths(args), **options)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return index


def run_index(args: argparse.Namespace) -> int:
    gallery = args.gallery or defaults.gallery_dir()
    model = load_cli_model(args)
    preprocess = PreprocessConfig(mode="center_crop") if args.center_crop else PreprocessConfig()
    report = build_index(
        gallery, model, index_paths(args), preprocess, batch_size=args.batch_size, workers=args.workers, progress=not args.quiet
    )
    print(report.summary())
    return 0


def run_info(args: argparse.Namespace) -> int:
    index = open_cli_index(args)
    m = index.manifest
    paths = index.paths
    lines = [
        f"index:      {paths.features}, {paths.mapping}, {paths.manifest if m else '(no manifest)'}",
        f"gallery:    {index.gallery_dir or 'unknown'}",
        f"images:     {index.size}",
        f"dimension:  {index.dim}",
    ]
    if m is None:
        lines.append("weights:    unknown (index from the original project; re-index to record them)")
    else:
        lines += [
            f"weights:    {m.model_fingerprint}",
            f"preprocess: {', '.join(f'{k}={v}' for k, v in m.preprocess.items())}",
            f"built:      {m.built_at} (in {m.build_seconds:.1f} s)",
            f"skipped:    {len(m.skipped)}",
            *(f"  {f.path}: {f.reason}" for f in m.skipped),
        ]
    print("\n".join(lines))
    return 0
