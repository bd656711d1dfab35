"""The ``vistamatch`` command. Each sub-command lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import VistaMatchError

# module name -> the sub-commands it registers
_COMMAND_MODULES = ("weights", "index", "search", "duplicates", "serve", "crawl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vistamatch",
        description="Self-hosted image-to-image search with DINOv2 (NumPy).",
        epilog="Example: vistamatch serve --gallery ./gallery_images",
    )
    parser.add_argument("--version", action="version", version=f"vistamatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VistaMatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that cannot be written, a file where a folder should be...
        print(f"error: {exc.filename}: {exc.strerror}" if exc.filename else f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
