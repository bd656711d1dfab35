"""Which thread runs which part of a forward pass; the arithmetic itself is in dinov2.py.

A batch with at least one image per thread is shared image by image: each thread encodes its own
images from start to end (no hand-offs between steps, every step parallel). A single image, or the
images left over, is shared step by step, two steps per layer: attention, one group of heads per
thread (its Q/K/V columns, attention, its rows of the output projection), and the MLP, one share
of the hidden units per thread (its fc1 columns, activation, its rows of fc2). Each thread thus
packs only its share of the weights. A step's shares are terms of one sum added to the residual
stream: one share adds straight into it, the others into buffers of their own, summed after the
step (on one thread, all add straight). LayerNorm between the steps runs on row chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from .kernels import NumpyKernels
from .ops import normalize
from .parallel import Runner

S = TypeVar("S")
# a share's term of a residual update, `a @ w`, as (a, w)
Term = tuple[np.ndarray, np.ndarray]


class Steps:
    """Runs a block's steps on one runner: shared between its threads, or all on one."""

    def __init__(self, runner: Runner, kernels: NumpyKernels):
        self._runner = runner
        self._kernels = kernels

    @property
    def threads(self) -> int:
        return self._runner.threads

    def normalized(self, x: np.ndarray, eps: float) -> np.ndarray:
        """(rows, D) -> LayerNorm without its affine part (folded into the next weights)."""
        out = np.empty_like(x)

        def norm(rows: slice) -> None:
            normalize(x[rows], eps, out=out[rows])

        self._runner.run(norm, row_chunks(len(x), self.threads))
        return out

    def hidden_shares(self, units: int) -> list[slice]:
        """The MLP's hidden units, one block per thread."""
        return column_chunks(units, self.threads)

    def add_terms(
        self, resid: np.ndarray, shares: Sequence[S], term: Callable[[S], Term], bias: np.ndarray
    ) -> None:
        """resid += sum of term(share) over the shares, + bias; the shares run side by side."""
        gemm, alone = self._kernels.gemm, self.threads == 1
        partials: dict[int, np.ndarray] = {}

        def add(j: int) -> None:
            a, w = term(shares[j])
            if alone or j == 0:
                gemm(a, w, resid, accumulate=True)
            else:
                partials[j] = np.empty_like(resid)
                gemm(a, w, partials[j])

        self._runner.run(add, range(len(shares)))
        for j in sorted(partials):  # in share order: the same sum on every run
            np.add(resid, partials[j], out=resid)
        np.add(resid, bias, out=resid)


class Schedule:
    """A model's threads: how a batch is cut between them, and how heads are grouped."""

    def __init__(self, threads: int | None, heads: int, kernels: NumpyKernels):
        self._runner = Runner(threads)
        self._shared = Steps(self._runner, kernels)
        self._alone = Steps(Runner(1), kernels)  # for a thread that encodes images on its own
        # head groups: the most threads that divide the heads evenly
        groups = max(g for g in range(1, self.threads + 1) if heads % g == 0)
        size = heads // groups
        self.head_groups = [slice(first, first + size) for first in range(0, heads, size)]

    @property
    def threads(self) -> int:
        return self._runner.threads

    def encode(self, x: np.ndarray, encode: Callable[[np.ndarray, Steps], np.ndarray]) -> np.ndarray:
        """encode(images, steps) over the batch x: whole images per thread, the rest step-shared."""
        threads = self.threads
        whole = len(x) - len(x) % threads if threads > 1 else 0
        pieces: list[np.ndarray] = []
        with self._runner.session():
            if whole:
                shares = np.array_split(x[:whole], threads)
                encoded: dict[int, np.ndarray] = {}

                def encode_share(j: int) -> None:
                    encoded[j] = encode(shares[j], self._alone)

                self._runner.run(encode_share, range(threads))
                pieces += [encoded[j] for j in range(threads)]
            if whole < len(x):
                pieces.append(encode(x[whole:], self._shared))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def row_chunks(rows: int, threads: int, min_rows: int = 512) -> list[slice]:
    """Up to `threads` equal chunks of at least `min_rows` rows (fewer, smaller steps are not worth
    handing to another thread)."""
    count = max(1, min(threads, rows // min_rows))
    bounds = [rows * i // count for i in range(count + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(count)]


def column_chunks(cols: int, threads: int, align: int = 16) -> list[slice]:
    """One block of columns per thread, bounds on multiples of `align` (whole SIMD vectors).

    For a weight matrix's columns: each thread then packs only its share of the weights."""
    units = -(-cols // align)
    count = max(1, min(threads, units))
    bounds = [min(cols, units * i // count * align) for i in range(count + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(count)]
