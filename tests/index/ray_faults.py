"""Faults for the Ray tests, set up in every Ray worker process (``worker_process_setup_hook``).

Files in the folder named by $VISTAMATCH_RAY_FAULTS steer them: ``crash-once`` makes the first
shard to start kill its actor's process (the file is claimed first, so only one does);
``crash-always`` makes every shard kill its actor's process, ``crash-urls`` every URL shard
holding its text (ray_crawl.py's UrlWorker); ``delay``
holds seconds to sleep before each shard. Every shard file written appends its files' paths to
``embedded.log`` (right after the write), so a test sees which files were embedded, by which run;
every model call appends its contents' hashes to ``model.log``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "VISTAMATCH_RAY_FAULTS"


def setup() -> None:
    from vistamatch.index.build import FileEmbedder
    from vistamatch.index.ray_crawl import UrlWorker
    from vistamatch.index.shards import ShardStore

    folder = os.environ.get(ENV)
    if not folder:
        return
    folder, run, write, embed = Path(folder), FileEmbedder.run, ShardStore.write, FileEmbedder._embed
    fetch_urls = UrlWorker.__call__

    def faulty_run(self, files, *args, **kwargs):
        try:
            os.rename(folder / "crash-once", folder / "crashed")  # claimed by exactly one process
        except FileNotFoundError:
            pass
        else:
            os._exit(1)  # the actor's process dies mid-batch, as on a lost node
        if (folder / "crash-always").exists():
            os._exit(1)
        if (folder / "delay").exists():
            time.sleep(float((folder / "delay").read_text()))
        return run(self, files, *args, **kwargs)

    def logged_write(self, shard, *args, **kwargs):
        write(self, shard, *args, **kwargs)
        with open(folder / "embedded.log", "a", encoding="utf-8") as log:
            log.write("".join(f"{f.path}\n" for f in shard.files))

    def logged_embed(self, digests, pixels):
        with open(folder / "model.log", "a", encoding="utf-8") as log:
            log.write("".join(f"{d}\n" for d in digests))
        return embed(self, digests, pixels)

    def faulty_urls(self, batch):
        marker = folder / "crash-urls"
        if marker.exists() and marker.read_text() in str(batch["urls"][0]):
            time.sleep(1.0)  # the driver takes the earlier shards' results meanwhile
            os._exit(1)  # before any download or model call
        return fetch_urls(self, batch)

    FileEmbedder.run, ShardStore.write, FileEmbedder._embed = faulty_run, logged_write, logged_embed
    UrlWorker.__call__ = faulty_urls


def model_inputs(folder: Path) -> list[str]:
    """The content hashes run through a model in the actors so far (a URL list's and the shards')."""
    log = folder / "model.log"
    return log.read_text("utf-8").splitlines() if log.exists() else []


def embedded(folder: Path) -> list[str]:
    """The files embedded so far, in the order the shards finished."""
    log = folder / "embedded.log"
    return log.read_text("utf-8").splitlines() if log.exists() else []
