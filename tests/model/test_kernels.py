"""Kernels: MKL's kernels agree with NumPy's, and the choice of backend behaves."""

from __future__ import annotations

import importlib.metadata
import math

import numpy as np
import pytest

from vistamatch.model import kernels as kernels_module
from vistamatch.model.kernels import MklKernels, NumpyKernels, select_kernels

from .backends import BACKENDS, NEEDS_MKL


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("accumulate", [False, True])
def test_gemm_on_column_blocks(name, accumulate):
    kernels = select_kernels(name)
    assert kernels.name == name
    rng = _rng()
    a = rng.standard_normal((37, 96)).astype(np.float32)
    w = rng.standard_normal((96, 80)).astype(np.float32)
    out = rng.standard_normal((37, 80)).astype(np.float32)
    expected = out.astype(np.float64)
    cols = slice(16, 48)  # a view whose rows lie apart
    block = a.astype(np.float64) @ w[:, cols].astype(np.float64)
    expected[:, cols] = expected[:, cols] + block if accumulate else block
    kernels.gemm(a, w[:, cols], out[:, cols], accumulate)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", BACKENDS)
def test_affine_adds_the_bias_once(name):
    rng = _rng()
    a = rng.standard_normal((9, 40)).astype(np.float32)
    w = rng.standard_normal((40, 64)).astype(np.float32)
    bias = rng.standard_normal(64).astype(np.float32)
    out = np.full((9, 64), 7.0, np.float32)  # whatever was there is overwritten
    select_kernels(name).affine(a, w[:, 16:48], bias[16:48], out[:, 16:48])
    expected = a.astype(np.float64) @ w[:, 16:48].astype(np.float64) + bias[16:48]
    np.testing.assert_allclose(out[:, 16:48], expected, rtol=1e-5, atol=1e-4)
    assert np.all(out[:, :16] == 7.0) and np.all(out[:, 48:] == 7.0)


@pytest.mark.parametrize("name", BACKENDS)
def test_gelu_is_exact_erf_gelu(name):
    x = (_rng().standard_normal((64, 300)) * 4).astype(np.float32)
    x[0, :4] = [0.0, -20.0, 20.0, -1e-30]
    ref = np.vectorize(lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))))(
        x.astype(np.float64)
    )
    got = x.copy()
    select_kernels(name).gelu_(got)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)
    strided = x.copy()
    select_kernels(name).gelu_(strided[:, ::2])  # not contiguous: NumPy's path
    np.testing.assert_allclose(strided[:, ::2], ref[:, ::2], rtol=0, atol=2e-6)
    np.testing.assert_array_equal(strided[:, 1::2], x[:, 1::2])


@pytest.mark.parametrize("name", BACKENDS)
def test_exp_matches_numpy_and_leaves_no_subnormals(name):
    x = (_rng().standard_normal((8, 257)) * 10 - 5).astype(np.float32)
    got = x.copy()
    select_kernels(name).exp_(got)
    np.testing.assert_allclose(got, np.exp(x.astype(np.float64)), rtol=2e-6)
    far = np.linspace(-200, -80, 1000, dtype=np.float32)
    select_kernels(name).exp_(far)
    tiny = np.finfo(np.float32).tiny
    assert not np.any((far > 0) & (far < tiny)), "subnormal results"
    assert np.all(far <= np.exp(-80.0) * (1 + 1e-6))


@NEEDS_MKL
def test_mkl_gemm_refuses_what_it_cannot_address():
    kernels = select_kernels("mkl")
    a = np.ones((4, 8), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        kernels.gemm(a, np.ones((7, 3), np.float32), np.empty((4, 3), np.float32))
    with pytest.raises(ValueError, match="contiguous rows"):
        kernels.gemm(
            a[:, ::2], np.ones((4, 3), np.float32), np.empty((4, 3), np.float32)
        )
    with pytest.raises(ValueError, match="float32"):
        kernels.gemm(a.astype(np.float64), np.ones((8, 3)), np.empty((4, 3)))


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="choose one of auto, numpy, mkl"):
        select_kernels("cuda")


def test_environment_variable_picks_the_backend(monkeypatch):
    monkeypatch.setenv("VISTAMATCH_BACKEND", "numpy")
    assert isinstance(select_kernels(), NumpyKernels)
    assert not isinstance(select_kernels(), MklKernels)
    monkeypatch.setenv("VISTAMATCH_BACKEND", "cuda")  # read even where MKL is not installed
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        select_kernels()
    assert select_kernels("numpy").name == "numpy"  # an explicit choice wins over the variable


def test_without_mkl_auto_falls_back_and_mkl_says_what_to_install(monkeypatch):
    def not_found(*args, **kwargs):
        raise OSError("no such library")

    def no_package(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(kernels_module, "_MKL", None)
    monkeypatch.setattr(kernels_module.ctypes, "CDLL", not_found)
    monkeypatch.setattr(kernels_module.importlib.metadata, "files", no_package)
    assert select_kernels("auto").name == "numpy"
    with pytest.raises(OSError, match=r"pip install 'vistamatch\[mkl\]'"):
        select_kernels("mkl")
