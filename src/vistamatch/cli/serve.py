"""``vistamatch serve``: load the weights, build or update the index, then run the web app."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from ..errors import VistaMatchError
from .options import (
    add_embedder_arguments,
    add_follow_links_argument,
    add_index_arguments,
    add_store_argument,
    add_weights_argument,
    index_location,
    positive_int,
)

EXAMPLE = """\
examples:
  vistamatch serve --gallery ~/Photos          # index in ~/Photos/.vistamatch/, kept up to date while serving
  vistamatch serve --gallery /mnt/nas/photos --poll
  vistamatch serve --gallery ./gallery_images --port 8080 --weights vit-dinov2-base.npz --features idx/f.npy

The gallery is indexed in the background (searchable from its first commit, results say
"partial: k of n indexed" meanwhile) and watched: new, changed and deleted photos are picked up
within seconds (GET /api/index tells the progress). --no-watch builds first, then serves as it is.

Binds 127.0.0.1 (this machine only) unless --host says otherwise. The environment variables of the
original project (GALLERY_DIR, WEIGHTS_PATH, GALLERY_FEATURES_PATH, GALLERY_MAPPING_PATH, HISTORY_PATH,
HISTORY_MAX_LEN, DEDUP_FEAT_SIM_TH) apply; options win over them. API: /docs."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="run the web app (search page, API, history)",
        description="Load the weights and the gallery index (building or updating it first), then serve the web app.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gallery", type=Path, help="image folder (default: $GALLERY_DIR or gallery_images)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_weights_argument(p)
    add_embedder_arguments(p)
    add_index_arguments(p)
    p.add_argument("--history", type=Path, help="history file (default: $HISTORY_PATH or search_history.json)")
    p.add_argument("--no-update", action="store_true", help="serve the index as it is (still built if missing or its manifest is broken); implies --no-watch")
    p.add_argument("--no-watch", action="store_true", help="build or update the index first, then serve it without following the gallery")
    p.add_argument("--poll", action="store_true", default=None, help="watch by polling (network drives) instead of file events (also $VISTAMATCH_WATCH_POLL=1)")
    add_follow_links_argument(p)
    add_store_argument(p, "to build and search with")
    p.add_argument("--max-upload-mb", type=float, help="largest accepted upload in MB (default 20)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="allow this origin (repeatable; default: CORS off)")
    p.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME",
        help="also answer requests for this Host name (repeatable; loopback and --host always; '*': any)",
    )  # fmt: skip
    limits = p.add_argument_group("timeouts and limits (stalled clients are closed)")
    limits.add_argument("--header-timeout", type=float, metavar="S", help="seconds to send a request's headers (default 20)")
    limits.add_argument("--body-timeout", type=float, metavar="S", help="seconds to wait for each part of a body (default 30)")
    limits.add_argument("--keep-alive", type=float, metavar="S", help="seconds an idle connection stays open (default 5)")
    limits.add_argument("--max-connections", type=positive_int, metavar="N", help="connections at once; more get 503 (default 256)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings only in the log")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..server import Settings, create_app, load_engine
    from ..server.service import load_settings_embedder
    from ..server.settings import MB
    from ..server.timeouts import server_options

    settings = Settings.from_env(**_overrides(args, MB))
    # The --host value and --allowed-host names add to $VISTAMATCH_ALLOWED_HOSTS.
    settings = dataclasses.replace(settings, allowed_hosts=(*settings.allowed_hosts, args.host, *args.allowed_host))
    if not settings.gallery_dir.is_dir():
        raise VistaMatchError(f"gallery folder not found: {settings.gallery_dir}")
    if settings.watch:
        model = load_settings_embedder(settings)  # bad weights fail here, before serving
        print(f"serving on http://{args.host}:{args.port}; indexing {settings.gallery_dir} in the background (progress: /api/index)", file=sys.stderr)
        app = create_app(settings, model=model)
    else:
        print(f"loading the weights and the index of {settings.gallery_dir} ...", file=sys.stderr)
        loaded = load_engine(settings, progress=not args.quiet)
        print(f"serving {loaded.gallery_size} images on http://{args.host}:{args.port} (API docs: /docs)", file=sys.stderr)
        app = create_app(settings, engine=loaded)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: others on the network can search and see the gallery", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info", **server_options(settings))
    return 0


def _overrides(args: argparse.Namespace, mb: int) -> dict:
    location = index_location(args)  # the same rule as `vistamatch index`
    paths = location.paths
    given = {
        "gallery_dir": args.gallery,
        "weights": args.weights,
        "num_attention_heads": args.num_heads,
        "embedder": args.embedder,
        "device": args.device,
        "dtype": args.dtype,
        "features_path": paths.features,
        "mapping_path": paths.mapping,
        "manifest_path": paths.manifest,
        "history_path": args.history or (None if os.environ.get("HISTORY_PATH") else location.history),
        "watch": not (args.no_watch or args.no_update),
        "watch_poll": args.poll,
        "max_upload_bytes": int(args.max_upload_mb * mb) if args.max_upload_mb else None,
        "cors_origins": tuple(args.cors_origin) or None,
        "update_index": False if args.no_update else None,
        "follow_outside_links": args.follow_outside_links,
        "store": args.store,
        "header_timeout_seconds": args.header_timeout,
        "body_timeout_seconds": args.body_timeout,
        "keep_alive_seconds": args.keep_alive,
        "max_connections": args.max_connections,
    }
    return {k: v for k, v in given.items() if v is not None}
