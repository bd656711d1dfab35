"""``ModelTurns``: one model run at a time, and a search never waits behind more than one build batch.

The model is shared by the searches and the background build (``updater.py``). A plain lock is not
fair: the build, releasing it after a batch and taking it again for the next, could keep a search
waiting for the whole build. Here a waiting search goes first; the build takes its next turn only
when no search waits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ModelTurns:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._searches_waiting = 0

    def __enter__(self) -> None:
        """A search's turn (``with turns:``), before any build batch that waits."""
        with self._cond:
            self._searches_waiting += 1
            while self._busy:
                self._cond.wait()
            self._searches_waiting -= 1
            self._busy = True

    def __exit__(self, *exc) -> None:
        self._release()

    @contextmanager
    def background(self) -> Iterator[None]:
        """A build batch's turn: once the model is free and no search waits."""
        with self._cond:
            while self._busy or self._searches_waiting:
                self._cond.wait()
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()
