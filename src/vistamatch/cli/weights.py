"""``vistamatch weights``: fetch released DINOv2 weights, convert between formats, describe a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import defaults
from .options import add_heads_argument

FETCH_EXAMPLE = """\
examples:
  vistamatch weights fetch                               # dinov2-base -> $WEIGHTS_PATH or vit-dinov2-base.npz
  vistamatch weights fetch --model dinov2-with-registers-small --out weights/small-reg.npz
  HF_ENDPOINT=https://hf-mirror.example vistamatch weights fetch

Downloads model.safetensors and config.json with huggingface_hub (its cache, resumable downloads,
HF_ENDPOINT, HF_HUB_OFFLINE), writes the .npz with the released key names and FILE.sha256 beside it.
Offline, it stops at once and says what to download and where to put it."""

CONVERT_EXAMPLE = """\
examples:
  vistamatch weights convert model.safetensors vit-dinov2-base.npz
  vistamatch weights convert dinov2_vitb14_pretrain.npz vit-dinov2-base.safetensors
  vistamatch weights convert vit-dinov2-base.npz fb-style.npz --style facebookresearch
  vistamatch weights convert ./my-finetuned-dinov2/ finetuned.npz    # a save_pretrained folder
  vistamatch weights convert custom.safetensors custom.npz --num-heads 6

Reads .npz or .safetensors with released (transformers save_pretrained), transformers-5 or
facebookresearch key names, and the config.json beside a .safetensors; checks the architecture;
writes the format of OUT's suffix with the architecture (head count included) in its metadata."""

INFO_EXAMPLE = """\
example:
  vistamatch weights info vit-dinov2-base.npz"""


def register(subparsers) -> None:
    from ..model.hub import MODELS
    from ..model.keys import STYLES

    p = subparsers.add_parser(
        "weights",
        help="fetch, convert or describe DINOv2 weights",
        description="Fetch released DINOv2 weights, convert between formats and key styles, describe a file.",
        epilog="example: vistamatch weights fetch --model dinov2-base",
    )
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    fetch = _add_action(
        sub,
        "fetch",
        run_fetch,
        help="download a released model from the Hugging Face hub and write the .npz",
        description="Download a released DINOv2 model from the Hugging Face hub and write the .npz the tool uses.",
        epilog=FETCH_EXAMPLE,
    )
    fetch.add_argument(
        "--model",
        default=defaults.DEFAULT_MODEL,
        choices=list(MODELS),
        metavar="NAME",
        help=f"one of: {', '.join(MODELS)} (default {defaults.DEFAULT_MODEL})",
    )
    fetch.add_argument(
        "--out",
        type=Path,
        help="output .npz (default: $WEIGHTS_PATH or vit-dinov2-base.npz "
        "for dinov2-base, vit-NAME.npz otherwise)",
    )

    convert = _add_action(
        sub,
        "convert",
        run_convert,
        help="convert weights between .npz/.safetensors and key styles",
        description="Convert weights between .npz and .safetensors and between key-name styles.",
        epilog=CONVERT_EXAMPLE,
    )
    convert.add_argument(
        "input",
        type=Path,
        metavar="IN",
        help=".npz, .safetensors (with its config.json, if beside) or a save_pretrained folder; any supported key style",
    )
    convert.add_argument(
        "output", type=Path, metavar="OUT", help=".npz or .safetensors"
    )
    convert.add_argument(
        "--style",
        choices=STYLES,
        default="released",
        help="key names to write (default released: what transformers' save_pretrained writes)",
    )
    add_heads_argument(convert)

    info = _add_action(
        sub,
        "info",
        run_info,
        help="print the architecture and fingerprint of a weights file",
        description="Print the architecture read from a weights file and its fingerprint.",
        epilog=INFO_EXAMPLE,
    )
    info.add_argument("path", type=Path, help=".npz, .safetensors or a save_pretrained folder")
    add_heads_argument(info)


def _add_action(sub, name: str, func, *, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """One `weights ACTION` parser: its examples shown as written, `func` run for it."""
    parser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=func)
    return parser


def run_fetch(args: argparse.Namespace) -> int:
    from ..model.hub import fetch_weights

    out = fetch_weights(args.model, args.out)
    print(f"wrote {out} and {out.name}.sha256")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from ..model.weights import convert_weights

    config = convert_weights(
        args.input, args.output, style=args.style, num_attention_heads=args.num_heads
    )
    print(f"wrote {args.output} ({args.style} names; {config.describe()})")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from ..model import load_model

    model = load_model(args.path, num_attention_heads=args.num_heads)
    print(f"{args.path}: {model.config.describe()}")
    print(f"fingerprint: {model.fingerprint}")
    return 0
