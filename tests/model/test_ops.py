"""Numerical building blocks and the parallel runner."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vistamatch.model import load_model
from vistamatch.model.ops import gelu_, layer_norm, silu_mul_, softmax_numerator_
from vistamatch.model.parallel import Runner, _blas
from vistamatch.model.schedule import column_chunks, row_chunks

from .backends import BACKENDS
from .parity_cases import parity_input

GRID = np.concatenate(
    [np.linspace(-12, 12, 200_001), [0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0]]
)


def test_exact_gelu():
    x = GRID.astype(np.float32)
    exact = np.array(
        [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)]
    )
    got = x.copy().reshape(1, -1)
    gelu_(got)
    assert (
        np.abs(got[0] - exact).max() < 2e-6
    )  # absolute error grows with |x| only through float32 rounding
    small = np.abs(x) < 4
    assert (np.abs(got[0] - exact)[small] <= 1e-6 + 1e-6 * np.abs(exact[small])).all()
    # not the tanh approximation: it is 1e-4 .. 1e-3 off around |x| ~ 2..3
    tanh_gelu = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert np.abs(tanh_gelu - exact).max() > 1e-4


def test_silu_gate_handles_extremes_without_warnings():
    gate = np.array([[-200.0, -1.0, 0.0, 1.0, 200.0]], np.float32)
    up = np.full_like(gate, 2.0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        silu_mul_(gate, up)
    expected = [
        2 * v / (1 + math.exp(-v)) if v > -100 else 0.0
        for v in (-200.0, -1.0, 0.0, 1.0, 200.0)
    ]
    np.testing.assert_allclose(gate[0], expected, rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize(
    "scale, offset, low_row, shifted",
    [
        (3, 0, 0, False),  # small scores: exponentiated as they are
        (3, 0, -30, False),  # a low row, still safe (first score >= -40)
        (30, 0, 0, True),  # some scores above 60: shifted by each row's max
        (3, 200, 0, True),  # would overflow without the shift
        (3, 0, -70, True),  # a row that would vanish without the shift
    ],
)
def test_softmax_numerator(scale, offset, low_row, shifted):
    rng = np.random.default_rng(0)
    s = (rng.standard_normal((3, 5, 7)) * scale + offset).astype(np.float32)
    s[1, 2] += low_row
    ref = np.exp(s.astype(np.float64) - s.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    sums = softmax_numerator_(s)
    assert np.all(np.isfinite(sums)) and np.all(sums > 0)
    np.testing.assert_allclose(s / sums, ref, rtol=1e-5, atol=1e-7)
    assert np.allclose(s.max(-1), 1.0) == shifted


def test_layer_norm():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 64)) * 5 + 3).astype(np.float32)
    w, b = (
        rng.standard_normal(64).astype(np.float32),
        rng.standard_normal(64).astype(np.float32),
    )
    x64 = x.astype(np.float64)
    ref = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(
        x64.var(-1, keepdims=True) + 1e-6
    ) * w + b
    np.testing.assert_allclose(layer_norm(x, w, b, 1e-6), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "rows, threads, count",
    [
        (1, 2, 1),
        (2, 2, 1),
        (257, 1, 1),
        (257, 2, 1),
        (1028, 2, 2),
        (2056, 2, 2),
        (2056, 3, 3),
        (5, 8, 1),
    ],
)
def test_row_chunks_cover_every_row_once(rows, threads, count):
    chunks = row_chunks(rows, threads)
    covered = np.concatenate([np.arange(rows)[c] for c in chunks])
    np.testing.assert_array_equal(covered, np.arange(rows))
    sizes = [c.stop - c.start for c in chunks]
    assert len(chunks) == count
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    "cols, threads", [(3072, 2), (2304, 2), (768, 3), (40, 2), (8, 2), (1, 4)]
)
def test_column_chunks_are_one_aligned_block_per_thread(cols, threads):
    chunks = column_chunks(cols, threads)
    covered = np.concatenate([np.arange(cols)[c] for c in chunks])
    np.testing.assert_array_equal(covered, np.arange(cols))
    assert len(chunks) == min(threads, -(-cols // 16))
    assert all(c.start % 16 == 0 for c in chunks)


def test_threads_do_not_change_the_result(tiny_weights):
    x = parity_input(3, 224, 308)
    one = load_model(tiny_weights, threads=1)(x)
    two = load_model(tiny_weights, threads=2)(x)
    np.testing.assert_allclose(two, one, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_is_shared_image_by_image_then_step_by_step(
    tiny_weights, backend, monkeypatch
):
    model = load_model(tiny_weights, threads=2, backend=backend)
    if model.threads != 2:
        pytest.skip("this NumPy's BLAS is not OpenBLAS: the model runs its pieces in order")
    calls = []
    encode_with = model._encode_with

    def recording(x, cls_only, steps):
        calls.append((len(x), steps.threads))
        return encode_with(x, cls_only, steps)

    monkeypatch.setattr(model, "_encode_with", recording)
    x = parity_input(5, 98, 126)
    cls = model(x)
    # two shares of two images, each for one thread on its own (the pool's two threads take
    # them as they come), then the fifth image with both threads
    assert calls == [(2, 1), (2, 1), (1, 2)]
    one_by_one = np.concatenate([model(x[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(cls, one_by_one, atol=1e-5)
    features = model.forward_features(x[:4])
    for i in range(4):
        alone = model.forward_features(x[i : i + 1])
        for name in ("cls_token", "patch_tokens"):
            np.testing.assert_allclose(features[name][i], alone[name][0], atol=1e-5)


def test_blas_threads_are_restored_after_a_forward_pass(tiny_weights):
    blas = _blas()
    if not blas.available:
        pytest.skip(
            "this NumPy's BLAS is not OpenBLAS: the model runs its pieces in order"
        )
    before = blas._get()
    model = load_model(tiny_weights, threads=2)
    assert Runner(2).parallel
    model(parity_input(1, 98, 98))
    assert blas._get() == before


def test_concurrent_calls_from_several_threads(tiny_weights):
    from concurrent.futures import ThreadPoolExecutor

    model = load_model(tiny_weights, threads=2)
    inputs = [parity_input(1 + i % 2, 98 + 14 * i, 140, seed=i) for i in range(6)]
    expected = [model(x) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(model, inputs))
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)
    blas = _blas()
    if blas.available:
        assert blas._users == 0
