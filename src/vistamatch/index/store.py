"""The index's vector store: which kind a build makes (and the structure it commits), and what opens.

Build side, ``plan_store``: "auto" is the exact scan below ``ann.AUTO_EXACT_BELOW`` rows (or without
faiss), else the approximate store; "ann" at any size from ``ann.TRAIN_PER_LIST`` rows. The previous
structure is updated in place (``AnnStore.update``) when it fits the previous rows, and built anew when
there is none, it does not fit, or ``needs_retrain``. Its search effort is then tuned to the recall
target on up to 1,000 of the gallery's own rows; when the target is not met below half the lists, the
index is marked exact and the manifest says why. The structure's bytes go into the same commit as the
rows (``IndexFiles.commit``), and ``manifest.store`` records kind, lists, effort and the recall. A build
may leave the retrain to ``retrain_structure``, run in the background: its own commit of the
structure, while the updated one keeps answering.

Open side, ``open_store``: the approximate store when the manifest names one and its structure fits
the features; otherwise the exact scan and a warning naming the file (readers never write: the next
``vistamatch index`` rebuilds it). A structure committed with the rows the reader checked (the
manifest's ``rows_token``) is trusted to be of them without hashing them again, and its inverted lists
are memory-mapped, not copied: a 1M index opens in well under a second (docs/benchmarks.md).
An index of the original project gets its structure from a writer (``grow_structure``), beside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import VistaMatchError
from ..search import ann, recall
from ..search.store import NumpyStore, VectorStore
from .files import IndexFiles
from .paths import IndexPaths

RECALL_K = recall.K  # recall@K the effort is tuned for (50: the default top-k)
RECALL_TARGET = recall.TARGET  # 0.99

@dataclass
class StorePlan:
    store: dict[str, Any]  # manifest.store
    structure: bytes | None = None  # a new structure to commit; None: none, or the committed one stays


def plan_store(
    requested: str,
    exact: NumpyStore,
    previous: tuple[np.ndarray, NumpyStore] | None,
    previous_store: dict | None,
    changed: list[str] | None,
    *,
    retrain: str = "now",
) -> StorePlan:
    """The store for the rows of ``exact``.

    ``previous`` is the committed structure's bytes and the exact store of the rows it was built for,
    ``previous_store`` the committed manifest's store, ``changed`` the keys whose content changed, or
    None when the rows are the committed ones (then a fitting committed store is kept as it is).
    ``retrain``: "now" builds or retrains the structure in this build; "later" keeps a committed one
    updated while it still meets the target, and otherwise (none yet, or it no longer meets the target)
    commits the exact store; either way the store is marked ``"retrain": "pending"`` for
    ``retrain_structure`` to train in the background while searches go on.
    """
    kind = ann.choose_kind(len(exact), requested)
    base = {"requested": requested}
    if kind == "exact":
        return StorePlan({**base, "kind": "exact"})
    if len(exact) < ann.TRAIN_PER_LIST:
        return StorePlan({**base, "kind": "exact", "note": f"{len(exact)} images: too few for the approximate store"})
    old = _load_previous(previous)
    left_pending = retrain == "now" and previous_store and previous_store.get("retrain") == "pending"
    if changed is None and previous_store and previous_store.get("requested") == requested and not left_pending:
        if previous_store.get("kind") == "exact" or old is not None:
            return StorePlan(previous_store)  # same rows, same request: nothing to redo
    if old is not None:
        old.update(exact, changed or ())
        if old.needs_retrain and retrain == "later" and _tune(old, exact).met:
            return _ann_plan(base, old, "retrain pending: the gallery changed a lot since the lists were placed", "pending")
    if retrain == "later" and (old is None or old.needs_retrain):  # the exact scan answers until it is trained
        return StorePlan({**base, "kind": "exact", "retrain": "pending",
                          "note": "the approximate structure is being built in the background"})
    note = None
    if old is not None and old.needs_retrain:
        old, note = None, "retrained: the gallery changed too much since the lists were placed"
    store = old or ann.AnnStore.build(exact)
    report = _tune(store, exact)
    if not report.met:
        return StorePlan({**base, "kind": "exact", "recall": report.to_dict(), "note": recall.describe(report)})
    return _ann_plan(base, store, note)


def _ann_plan(base: dict, store: ann.AnnStore, note: str | None, retrain: str | None = None) -> StorePlan:
    info = store.info
    described = {"lists": info.lists, "effort": info.effort, "trained_count": info.trained_count, "recall": info.recall,
                 "features": info.features}
    retrain_entry = {"retrain": retrain} if retrain else {}
    return StorePlan({**base, "kind": "ann", "structure": ann.KIND, **described, "note": note, **retrain_entry}, store.to_bytes())


def retrain_structure(paths: IndexPaths, *, lock_timeout: float | None = None) -> str | None:
    """Retrain the structure a build left pending (``plan_store(retrain="later")``); for a background thread.

    Trains on the committed rows without the lock, so builds wait only for the commit and readers
    keep answering with the committed structure meanwhile; then commits the new structure alone (with
    the manifest) under the lock, if the rows are still the ones it trained on. Returns what happened,
    or None when nothing is pending.
    """
    snapshot = IndexFiles(paths).read()
    pending = snapshot.manifest is not None and (snapshot.manifest.store or {}).get("retrain") == "pending"
    if not pending:
        return None
    exact = exact_store(snapshot)
    fresh = ann.AnnStore.build(exact)
    report = _tune(fresh, exact)
    if not report.met and snapshot.manifest.store.get("kind") == "ann":
        return f"{paths.structure}: the retrained structure {recall.describe(report)}; the committed one stays"
    files = IndexFiles(paths) if lock_timeout is None else IndexFiles(paths, lock_timeout=lock_timeout)
    with files.locked():
        manifest, _ = files.load_manifest()
        if manifest is None or (manifest.rows or {}).get("token") != snapshot.manifest.rows["token"]:
            return f"{paths.structure}: the rows changed during the retrain; not committed (the next build decides again)"
        base = {"requested": manifest.store["requested"]}
        if report.met:
            plan = _ann_plan(base, fresh, "trained in the background")
        else:  # the exact scan stays, no longer pending: the approximate store cannot beat it on these rows
            plan = StorePlan({**base, "kind": "exact", "recall": report.to_dict(), "note": recall.describe(report)})
        manifest.store = plan.store
        files.commit(manifest, structure=plan.structure)
    if not report.met:
        return f"{paths.features}: {recall.describe(report)}; the exact scan stays"
    return f"{paths.structure}: trained on {len(exact):,} images in the background ({recall.describe(report)})"


def _tune(store: ann.AnnStore, exact: NumpyStore) -> recall.RecallReport:
    """Raise ``store``'s effort to the recall target on the gallery's own rows; the report is kept in its info."""
    report = recall.tune_effort(store, exact, recall.sample_rows(exact), k=RECALL_K, target=RECALL_TARGET)
    store.info.recall = report.to_dict()
    return report


def grow_structure(paths: IndexPaths, requested: str = "auto", *, lock_timeout: float | None = None) -> str | None:
    """Build the approximate structure of an index of the original project and keep it beside it.

    Such an index has features and mapping only (no manifest, so no commit to join): under the build
    lock (a writer: ``vistamatch serve``; readers never write), the structure is tuned like a build's
    and written atomically to ``paths.structure``, the index files untouched (the original project still
    reads them). Its header names the features it fits; ``open_store`` checks that on every open, and
    a structure that no longer fits is built again here. Returns a line saying what was done, or None
    when there was nothing to do (a manifest, "exact", too few rows, a fitting structure).
    """
    if paths.manifest.exists() or requested == "exact":
        return None
    files = IndexFiles(paths) if lock_timeout is None else IndexFiles(paths, lock_timeout=lock_timeout)
    with files.locked():
        files.recover()
        snapshot = files.read()
        if snapshot.manifest is not None:  # built meanwhile
            return None
        exact = exact_store(snapshot)
        if ann.choose_kind(len(exact), requested) != "ann" or len(exact) < ann.TRAIN_PER_LIST:
            return None
        if snapshot.structure is not None:
            try:
                ann.AnnStore.from_buffer(snapshot.structure, exact, paths.structure)
                return None
            except ann.StructureMismatch:
                pass  # of other features: built again
        store = ann.AnnStore.build(exact)
        report = _tune(store, exact)
        if not report.met:
            return f"{paths.features}: {recall.describe(report)}; no approximate structure kept"
        atomic_write_bytes(paths.structure, store.to_bytes())
    return f"{paths.structure}: approximate structure built for the index without a manifest ({recall.describe(report)})"


def exact_store(snapshot) -> NumpyStore:
    """The exact store of a snapshot's rows (keys '/'-separated and rows rescaled for an original index)."""
    mapping, manifest = snapshot.mapping, snapshot.manifest
    if manifest is None and len(mapping):
        mapping = np.char.replace(mapping, "\\", "/")  # '/'-separated, whatever wrote it
    return NumpyStore(snapshot.features, mapping, normalized=manifest is not None and manifest.normalized)


def _load_previous(previous: tuple[np.ndarray, NumpyStore] | None) -> ann.AnnStore | None:
    if previous is None or previous[0] is None:
        return None
    try:
        return ann.AnnStore.from_buffer(previous[0], previous[1], "the committed structure")
    except ann.StructureMismatch:
        return None  # built anew


def open_store(exact: NumpyStore, snapshot, requested: str, path: Path) -> tuple[VectorStore, str | None]:
    """(store, warning): what ``open_index`` searches with (``snapshot``: ``IndexFiles.read``'s), and why
    it is not what was asked, if so."""
    if requested not in ann.KINDS:
        raise ValueError(f"store kind must be one of {', '.join(ann.KINDS)}, got {requested!r}")
    manifest, structure = snapshot.manifest, snapshot.structure
    built = (manifest.store or {}) if manifest is not None else {}
    if requested == "exact":
        return exact, None
    if manifest is None and structure is not None:  # grown beside an original index (grow_structure)
        built = {"kind": "ann"}
    if built.get("kind") != "ann":
        if requested == "ann" and built.get("retrain") != "pending":  # pending: being trained, no news
            how = "vistamatch serve, which builds it beside an index without a manifest" if manifest is None else "vistamatch index --store ann"
            return exact, f"index {path.parent} has no approximate structure: exact scan; build one with: {how}"
        return exact, None
    if structure is None:
        return exact, f"{path}: {snapshot.structure_problem}: exact scan; re-index to rebuild it with: vistamatch index"
    rows = (manifest.rows if manifest is not None else None) or {}
    # committed with these rows (whose token the reader checked): the manifest's fingerprint is theirs
    trusted = built.get("features") if rows.get("token") and built.get("rows_token") == rows["token"] else None
    try:
        with _same_file(path, snapshot.structure_inode) as fd:
            return ann.AnnStore.from_buffer(structure, exact, path, trusted=trusted, fd=fd), None
    except ann.StructureMismatch as exc:
        again = "vistamatch serve" if manifest is None else "vistamatch index"
        return exact, f"{exc}: exact scan; rebuild it with: {again}"
    except VistaMatchError as exc:  # faiss not installed here
        return exact, f"{path}: {exc}; exact scan"


@contextmanager
def _same_file(path: Path, inode: int | None) -> Iterator[int | None]:
    """A descriptor of ``path`` while it is still the file of ``inode`` (the snapshot's), else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield None
        return
    try:
        yield fd if inode is not None and os.fstat(fd).st_ino == inode else None
    finally:
        os.close(fd)


def describe_store(store: VectorStore, manifest) -> str:
    """One line for ``vistamatch info`` and /api/stats, e.g. "approximate: 99.7 % of exact top-50, ..."."""
    built = (manifest.store or {}) if manifest is not None else {}
    if not store.exact:
        measured = built.get("recall") or store.info.recall
        return recall.describe(recall.RecallReport(**measured)) if measured else "approximate: recall not measured"
    if built.get("kind") == "exact" and built.get("note"):
        return f"exact ({built['note']})" if "recall" not in built else built["note"]
    return recall.describe(None, len(store))
