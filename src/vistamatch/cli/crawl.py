"""``vistamatch crawl``: fill a gallery folder from a URL list until exactly --target images are there.

The original script's flags (--save_dir, --workers, --max_attempts, ...) are accepted as aliases.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import defaults
from ..errors import VistaMatchError

EXIT_SHORT = 1  # stopped before the target: the list or --max-attempts ran out
EXIT_INTERRUPTED = 130


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {value!r}")


def _positive(kind):
    def parse(value: str):
        number = kind(value)
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {value}")
        return number

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The crawl flags; also used by the root wrapper download_gallery_success_target_fixed.py."""
    pos_int, pos_float = _positive(int), _positive(float)
    p.add_argument("--csv", "--input", dest="source", type=Path, required=True,
                   help="URL list: .csv/.tsv, .txt (one URL a line) or .parquet; read as a stream")
    p.add_argument("--col", "--column", dest="column", help="column with the URLs (default: detected)")
    p.add_argument("--target", type=pos_int, default=12_000,
                   help="stop when the folder holds this many images, existing ones included (default 12000)")
    p.add_argument("--out", "--save_dir", "--save-dir", dest="out_dir", type=Path, default=None,
                   help="gallery folder (default: $GALLERY_DIR or gallery_images)")
    p.add_argument("--workers", "--concurrency", dest="concurrency", type=pos_int, default=64,
                   help="downloads at once (default 64)")
    p.add_argument("--per-host", type=pos_int, default=16, help="downloads at once to one host (default 16)")
    p.add_argument("--inflight", type=pos_int, default=None,
                   help="URLs in progress incl. waiting and retrying (default 2 x --workers)")
    p.add_argument("--timeout", type=pos_float, default=10.0, help="seconds for one whole try (default 10)")
    p.add_argument("--connect-timeout", type=pos_float, default=5.0, help="seconds to connect (default 5)")
    p.add_argument("--retries", type=int, default=2,
                   help="extra tries after a timeout, connection error, 429 or 5xx (default 2)")
    p.add_argument("--backoff", type=float, default=0.5, help="first retry delay in seconds, doubling (default 0.5)")
    p.add_argument("--max_attempts", "--max-attempts", dest="max_attempts", type=pos_int, default=None,
                   help="give up after trying this many URLs in this run")
    p.add_argument("--check_content_type", "--check-content-type", dest="check_content_type", type=_flag,
                   nargs="?", const=True, default=True,
                   help="refuse responses whose Content-Type is not an image (default true)")
    p.add_argument("--no-check-content-type", dest="check_content_type", action="store_false")
    p.add_argument("--chunksize", type=pos_int, default=10_000, help="rows per Parquet batch (default 10000)")
    p.add_argument("--encoding", default=None, help="text encoding of the list (default utf-8, then gbk)")
    p.add_argument("--min-bytes", type=int, default=1024, help="smaller bodies are refused (default 1024)")
    p.add_argument("--max-bytes", type=pos_int, default=20 * 1024 * 1024,
                   help="larger bodies are refused while streaming (default 20 MiB)")
    p.add_argument("--min-side", type=int, default=64, help="images narrower or lower are refused (default 64)")
    p.add_argument("--max-side", type=pos_int, default=None, help="shrink larger images to this long side")
    p.add_argument("--state", type=Path, default=None, help="state file (default: inside the gallery's .crawl/)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "crawl",
        help="download images from a URL list until exactly --target are in the gallery",
        description=__doc__,
        epilog="Example: vistamatch crawl --csv data.csv --col image_url --target 12000 --out gallery_images",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from ..crawler import CrawlConfig, FetchSettings, ImageRules

    if args.retries < 0:
        raise VistaMatchError("--retries cannot be negative")
    fetch = FetchSettings(
        concurrency=args.concurrency,
        per_host=args.per_host,
        timeout_s=args.timeout,
        connect_timeout_s=min(args.connect_timeout, args.timeout),
        retries=args.retries,
        backoff_s=args.backoff,
        max_bytes=args.max_bytes,
        check_content_type=args.check_content_type,
    )
    rules = ImageRules(min_bytes=args.min_bytes, max_bytes=args.max_bytes, min_side=args.min_side,
                       max_side=args.max_side)
    return CrawlConfig(
        source=args.source,
        out_dir=args.out_dir or defaults.gallery_dir(),
        target=args.target,
        column=args.column,
        encoding=args.encoding,
        max_attempts=args.max_attempts,
        inflight=args.inflight,
        chunksize=args.chunksize,
        fetch=fetch,
        rules=rules,
        state_path=args.state,
        progress=args.progress,
    )


def run(args: argparse.Namespace) -> int:
    from ..crawler import crawl, format_summary
    from ..crawler.run import INTERRUPTED, TARGET_REACHED

    report = crawl(config_from_args(args))
    print(format_summary(report), flush=True)
    if report.stop_reason == INTERRUPTED:
        return EXIT_INTERRUPTED
    if report.stop_reason == TARGET_REACHED:
        return 0
    print(f"error: target not reached: {report.total} of {report.target} images ({report.stop_reason})", file=sys.stderr)
    return EXIT_SHORT


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m vistamatch.cli.crawl``, the root wrapper): only the crawl's imports."""
    parser = argparse.ArgumentParser(prog="vistamatch-crawl", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except VistaMatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
