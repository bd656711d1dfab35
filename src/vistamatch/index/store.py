"""The index's vector store: which kind a build makes (and the structure it commits), and what opens.

Build side, ``plan_store``: "auto" is the exact scan below ``ann.AUTO_EXACT_BELOW`` rows (or without
faiss), else the approximate store; "ann" at any size from ``ann.TRAIN_PER_LIST`` rows. The previous
structure is updated in place (``AnnStore.update``) when it fits the previous rows, and built anew when
there is none, it does not fit, or ``needs_retrain``. Its search effort is then tuned to the recall
target on up to 1,000 of the gallery's own rows; when the target is not met below half the lists, the
index is marked exact and the manifest says why. The structure's bytes go into the same commit as the
rows (``IndexFiles.commit``), and ``manifest.store`` records kind, lists, effort and the recall.

Open side, ``open_store``: the approximate store when the manifest names one and its structure fits
the features; otherwise the exact scan and a warning naming the file (readers never write: the next
``vistamatch index`` rebuilds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VistaMatchError
from ..search import ann, recall
from ..search.store import NumpyStore, VectorStore

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
) -> StorePlan:
    """The store for the rows of ``exact``.

    ``previous`` is the committed structure's bytes and the exact store of the rows it was built for,
    ``previous_store`` the committed manifest's store, ``changed`` the keys whose content changed, or
    None when the rows are the committed ones (then a fitting committed store is kept as it is).
    """
    kind = ann.choose_kind(len(exact), requested)
    base = {"requested": requested}
    if kind == "exact":
        return StorePlan({**base, "kind": "exact"})
    if len(exact) < ann.TRAIN_PER_LIST:
        return StorePlan({**base, "kind": "exact", "note": f"{len(exact)} images: too few for the approximate store"})
    old = _load_previous(previous)
    if changed is None and previous_store and previous_store.get("requested") == requested:
        if previous_store.get("kind") == "exact" or old is not None:
            return StorePlan(previous_store)  # same rows, same request: nothing to redo
    note = None
    if old is not None:
        old.update(exact, changed or ())
        if old.needs_retrain:
            old, note = None, "retrained: the gallery changed too much since the lists were placed"
    store = old or ann.AnnStore.build(exact)
    report = recall.tune_effort(store, exact, recall.sample_rows(exact), k=RECALL_K, target=RECALL_TARGET)
    store.info.recall = report.to_dict()
    if not report.met:
        return StorePlan({**base, "kind": "exact", "recall": report.to_dict(), "note": recall.describe(report)})
    info = store.info
    described = {"lists": info.lists, "effort": info.effort, "trained_count": info.trained_count, "recall": info.recall}
    return StorePlan({**base, "kind": "ann", "structure": ann.KIND, **described, "note": note}, store.to_bytes())


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
    if built.get("kind") != "ann":
        if requested == "ann":
            return exact, f"index {path.parent} has no approximate structure: exact scan; build one with: vistamatch index --store ann"
        return exact, None
    if structure is None:
        return exact, f"{path}: {snapshot.structure_problem}: exact scan; re-index to rebuild it with: vistamatch index"
    try:
        return ann.AnnStore.from_buffer(structure, exact, path), None
    except ann.StructureMismatch as exc:
        return exact, f"{exc}: exact scan; re-index to rebuild it with: vistamatch index"
    except VistaMatchError as exc:  # faiss not installed here
        return exact, f"{path}: {exc}; exact scan"


def describe_store(store: VectorStore, manifest) -> str:
    """One line for ``vistamatch info`` and /api/stats, e.g. "approximate: 99.7 % of exact top-50, ..."."""
    built = (manifest.store or {}) if manifest is not None else {}
    if not store.exact:
        measured = built.get("recall")
        return recall.describe(recall.RecallReport(**measured)) if measured else "approximate: recall not measured"
    if built.get("kind") == "exact" and built.get("note"):
        return f"exact ({built['note']})" if "recall" not in built else built["note"]
    return recall.describe(None, len(store))
