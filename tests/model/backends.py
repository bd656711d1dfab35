"""The kernel backends to test: numpy always; mkl where the optional `mkl` package is installed
(.ci/run installs it, so CI runs both)."""

from __future__ import annotations

import pytest

from vistamatch.model.kernels import select_kernels

MKL_INSTALLED = select_kernels("auto").name == "mkl"
NEEDS_MKL = pytest.mark.skipif(
    not MKL_INSTALLED,
    reason="Intel MKL is not installed (pip install 'vistamatch[mkl]')",
)
BACKENDS = ["numpy", pytest.param("mkl", marks=NEEDS_MKL)]
