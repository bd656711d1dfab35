"""The numeric kernels the forward pass spends its time in: matrix products, GELU, exp.

Two backends with one interface. "numpy": NumPy's BLAS (OpenBLAS in the wheels) and ufuncs, always
there. "mkl": Intel MKL through ctypes when the optional `mkl` package is installed
(`pip install 'vistamatch[mkl]'`): cblas_sgemm (15-25 % faster than OpenBLAS's on the x86 machine
we measured, and it adds into `out` without a temporary) and its vector math library for GELU
(one call to the normal CDF) and exp. Every call is single-threaded: the model's own threads share
the work (parallel.py). ctypes releases the GIL while MKL runs.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os

import numpy as np

from .ops import exp_no_subnormals_, gelu_

BACKENDS = ("auto", "numpy", "mkl")
ENV_VAR = "VISTAMATCH_BACKEND"  # auto (default), numpy or mkl


class NumpyKernels:
    name = "numpy"

    def gemm(
        self, a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False
    ) -> None:
        """out = a @ b, or out += a @ b; 2-D float32."""
        if accumulate:
            out += a @ b
        else:
            np.matmul(a, b, out=out)

    def affine(
        self, a: np.ndarray, b: np.ndarray, bias: np.ndarray, out: np.ndarray
    ) -> None:
        """out = a @ b + bias (bias: one value per column)."""
        self.gemm(a, b, out)
        out += bias

    def gelu_(self, x: np.ndarray) -> None:
        """Exact (erf) GELU in place."""
        gelu_(x)

    def exp_(self, x: np.ndarray) -> None:
        """exp in place, never leaving subnormal numbers (slow to compute with on x86)."""
        exp_no_subnormals_(x)


_ROW_MAJOR, _NO_TRANS, _MKL_SEQUENTIAL = 101, 111, 1
_VML_HA_FLUSH_SUBNORMALS = 0x2 | 0x00280000  # VML_HA | VML_FTZDAZ_ON


class MklKernels(NumpyKernels):
    name = "mkl"

    def __init__(self, lib: ctypes.CDLL):
        if lib.MKL_Set_Threading_Layer(_MKL_SEQUENTIAL) != _MKL_SEQUENTIAL:
            raise OSError("MKL is already in use with threads in this process")
        ptr, i = ctypes.c_void_p, ctypes.c_int
        self._sgemm = lib.cblas_sgemm
        self._sgemm.argtypes = [i] * 6 + [
            ctypes.c_float,
            ptr,
            i,
            ptr,
            i,
            ctypes.c_float,
            ptr,
            i,
        ]
        self._cdf_norm, self._mul, self._exp = lib.vsCdfNorm, lib.vsMul, lib.vmsExp
        self._cdf_norm.argtypes = [i, ptr, ptr]
        self._exp.argtypes = [i, ptr, ptr, ctypes.c_int64]
        self._mul.argtypes = [i, ptr, ptr, ptr]
        for fn in (self._sgemm, self._cdf_norm, self._mul, self._exp):
            fn.restype = None

    def gemm(
        self, a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False
    ) -> None:
        (m, k), n = a.shape, b.shape[1]
        if b.shape[0] != k or out.shape != (m, n):
            raise ValueError(f"gemm shapes {a.shape} @ {b.shape} -> {out.shape}")
        for arr in (
            a,
            b,
            out,
        ):  # rows may lie apart (a column block), elements must not
            if arr.dtype != np.float32 or arr.strides[1] != 4 or arr.strides[0] % 4:
                raise ValueError("gemm needs float32 arrays with contiguous rows")
        self._sgemm(
            _ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0,
            a.ctypes.data, a.strides[0] // 4,
            b.ctypes.data, b.strides[0] // 4,
            1.0 if accumulate else 0.0,
            out.ctypes.data, out.strides[0] // 4,
        )  # fmt: skip

    def affine(
        self, a: np.ndarray, b: np.ndarray, bias: np.ndarray, out: np.ndarray
    ) -> None:
        """The bias is written first and the product added to it: no second pass over `out`."""
        out[...] = bias
        self.gemm(a, b, out, accumulate=True)

    def gelu_(self, x: np.ndarray) -> None:
        """x * Phi(x) with MKL's normal CDF (max abs error ~4e-7, as the NumPy one)."""
        if not _flat_float32(x):
            return super().gelu_(x)
        cdf = np.empty_like(x)
        self._cdf_norm(x.size, x.ctypes.data, cdf.ctypes.data)
        self._mul(x.size, x.ctypes.data, cdf.ctypes.data, x.ctypes.data)

    def exp_(self, x: np.ndarray) -> None:
        if not _flat_float32(x):
            return super().exp_(x)
        self._exp(x.size, x.ctypes.data, x.ctypes.data, _VML_HA_FLUSH_SUBNORMALS)


def _flat_float32(x: np.ndarray) -> bool:
    return x.dtype == np.float32 and x.flags.c_contiguous and 0 < x.size < 2**31


def _mkl_library() -> ctypes.CDLL:
    """libmkl_rt from the `mkl` wheel (found through its file list), else from the system."""
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates = [str(f.locate()) for f in files if f.name.startswith("libmkl_rt.so")]
    for path in candidates + ["libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"]:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    raise OSError("Intel MKL not found: pip install 'vistamatch[mkl]'")


_MKL: MklKernels | None = None


def _mkl() -> MklKernels:
    global _MKL
    if _MKL is None:
        _MKL = MklKernels(_mkl_library())
    return _MKL


def select_kernels(backend: str | None = None) -> NumpyKernels:
    """ "mkl", "numpy", or "auto" (MKL when installed, else NumPy); None reads VISTAMATCH_BACKEND."""
    backend = (backend or os.environ.get(ENV_VAR) or "auto").lower()
    if backend not in BACKENDS:
        raise ValueError(
            f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}"
        )
    if backend == "numpy":
        return NumpyKernels()
    try:
        return _mkl()
    except (OSError, AttributeError):
        if backend == "mkl":
            raise
        return NumpyKernels()
