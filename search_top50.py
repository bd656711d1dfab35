"""Top-K search from the terminal, as in the original project:

    python search_top50.py --query /path/to/query.jpg --topk 50 --export_dir results_top50

A thin wrapper over `vistamatch search` (same default index paths and environment variables).
"""

import argparse
import sys

from vistamatch.cli import main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="Example: " + __doc__.splitlines()[2].strip())
    parser.add_argument("--query", required=True, help="query image file or http(s) URL")
    parser.add_argument("--topk", type=int, default=50, help="number of results (default 50)")
    parser.add_argument("--export_dir", default=None, help="copy the results here, named by rank and score")
    parser.add_argument("--no_dedup", action="store_true", help="keep duplicates")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    command = ["search", "--query", args.query, "--topk", str(args.topk)]
    if args.export_dir:
        command += ["--export-dir", args.export_dir]
    if args.no_dedup:
        command.append("--no-dedup")
    sys.exit(main(command))
