"""Running the forward pass on several cores.

The model's schedule (schedule.py) cuts its work into independent pieces (whole images of a batch;
within a layer, a group of heads or a share of the MLP's hidden units; row chunks for LayerNorm)
that `Runner` shares between the calling thread and a small pool; NumPy (and ctypes, for the MKL kernels)
release the GIL, so the pieces run side by side, element-wise steps included. BLAS is switched to one
thread meanwhile (OpenBLAS, found through /proc/self/maps), otherwise its own threads would fight
ours. Where BLAS cannot be controlled the pieces run one after another and BLAS threads itself.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


class _BlasThreads:
    """Process-wide BLAS thread count, held at 1 while any forward pass runs (reference counted)."""

    def __init__(self) -> None:
        self._set, self._get = _find_openblas()
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 1

    @property
    def available(self) -> bool:
        return self._set is not None

    @contextmanager
    def single(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = self._get()
                self._set(1)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._set(self._saved)


def _find_openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS NumPy loaded, or (None, None)."""
    import numpy  # noqa: F401  (loads its BLAS)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None, None
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            if hasattr(lib, name) and hasattr(lib, name.replace("_set_", "_get_")):
                setter, getter = (
                    getattr(lib, name),
                    getattr(lib, name.replace("_set_", "_get_")),
                )
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None, None


_BLAS: _BlasThreads | None = None
_BLAS_LOCK = threading.Lock()


def _blas() -> _BlasThreads:
    global _BLAS
    with _BLAS_LOCK:
        if _BLAS is None:
            _BLAS = _BlasThreads()
        return _BLAS


def default_threads() -> int:
    """CPU cores this process may use, capped by OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when set."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            n = min(n, int(value))
    return max(1, n)


class Runner:
    """Runs pieces of work on `threads` threads (with BLAS held at one thread), or in order."""

    def __init__(self, threads: int | None = None):
        threads = threads or default_threads()
        self.parallel = threads > 1 and _blas().available
        self.threads = threads if self.parallel else 1
        self._pool = (
            ThreadPoolExecutor(threads - 1, thread_name_prefix="vistamatch-model")
            if self.parallel
            else None
        )

    @contextmanager
    def session(self) -> Iterator[None]:
        """Wrap one forward pass: BLAS single-threaded while our threads share the work."""
        if self._pool is None:
            yield
        else:
            with _blas().single():
                yield

    def run(self, fn: Callable[[T], None], pieces: Iterable[T]) -> None:
        """fn(piece) for every piece; the calling thread works too, the others take what is left."""
        pieces = list(pieces)
        helpers = min(self.threads, len(pieces)) - 1
        if self._pool is None or helpers == 0:
            for piece in pieces:
                fn(piece)
            return
        queue = iter(pieces)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    piece = next(queue, _DONE)
                if piece is _DONE:
                    return
                fn(piece)

        futures = [self._pool.submit(work) for _ in range(helpers)]
        try:
            work()
        finally:
            for future in futures:
                future.result()


_DONE = object()
