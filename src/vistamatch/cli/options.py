"""Options and loaders several sub-commands share: the weights, the index files, positive counts."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .. import defaults
from ..index import IndexPaths, open_index
from ..index.location import IndexLocation, locate_index
from ..search.ann import AUTO_EXACT_BELOW


def positive_int(text: str) -> int:
    return _int_from(text, 1)


def non_negative_int(text: str) -> int:
    return _int_from(text, 0)


def _int_from(text: str, least: int) -> int:
    value = int(text)
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights",
        help="DINOv2 weights file, save_pretrained folder or model name (default: $WEIGHTS_PATH or vit-dinov2-base.npz)",
    )
    add_heads_argument(parser)


def add_heads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--num-heads",
        type=positive_int,
        metavar="N",
        help="attention heads, for weights that do not say (no metadata, no config.json) and are not a released size",
    )


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "index files (default: $GALLERY_FEATURES_PATH etc., else GALLERY/.vistamatch/ when a gallery is given, else the current folder)"
    )
    group.add_argument("--features", type=Path, help="features .npy (default gallery_features.npy)")
    group.add_argument("--mapping", type=Path, help="mapping .npy (default gallery_mapping.npy)")
    group.add_argument("--manifest", type=Path, help="manifest .json (default: beside the features)")


def add_store_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--store",
        choices=defaults.STORE_KINDS,
        default=None,
        help=f"vector store {what}: auto (exact below {AUTO_EXACT_BELOW:,} images, else approximate when faiss is installed), "
        "exact (every image compared) or ann (approximate, tuned to 99 %% of the exact top-50) (default: $VISTAMATCH_STORE or auto)",
    )


def store_kind(args: argparse.Namespace) -> str:
    """--store, else $VISTAMATCH_STORE, else auto."""
    return args.store or defaults.store_kind()


def add_follow_links_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--follow-outside-links",
        action="store_true",
        default=None,
        help="index (and serve) symlinks to files outside the gallery (also $VISTAMATCH_FOLLOW_OUTSIDE_LINKS=1); skipped by default",
    )


def given_gallery(args: argparse.Namespace) -> Path | None:
    """The gallery folder given on the command line (``--gallery DIR`` or ``index DIR``), if any."""
    return getattr(args, "gallery", None) or getattr(args, "gallery_dir", None)


def index_location(args: argparse.Namespace) -> IndexLocation:
    """The index files of this command, by the one rule of ``index/location.py``."""
    return locate_index(given_gallery(args), features=args.features, mapping=args.mapping, manifest=args.manifest)


def index_paths(args: argparse.Namespace) -> IndexPaths:
    return index_location(args).paths


def add_embedder_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import defaults
    from ..embed import KINDS
    from ..embed.torch_embedder import DEVICES, DTYPES

    group = parser.add_argument_group("embedder (the NumPy model on the CPU unless told otherwise)")
    group.add_argument(
        "--embedder", choices=KINDS, default=defaults.embedder_kind(),
        help="numpy, torch (the torch extra), or auto: torch on a GPU, else numpy (default: $VISTAMATCH_EMBEDDER or auto)",
    )  # fmt: skip
    group.add_argument(
        "--device", default=defaults.device(), metavar="|".join(DEVICES),
        help="where the model runs: cpu, cuda (or cuda:N), auto (default: $VISTAMATCH_DEVICE or cpu)",
    )  # fmt: skip
    group.add_argument(
        "--dtype", choices=DTYPES, default=defaults.dtype(),
        help="float32, or bfloat16/float16 with the torch embedder (default: $VISTAMATCH_DTYPE or float32)",
    )  # fmt: skip


def cli_embedder_spec(args: argparse.Namespace):
    from ..wiring import embedder_spec

    return embedder_spec(args.weights, kind=args.embedder, device=args.device, dtype=args.dtype, num_attention_heads=args.num_heads)


def open_cli_index(args: argparse.Namespace, **options):
    """open_index, with its warning (an unverifiable index) printed as one line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = open_index(index_paths(args), **options)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return index
