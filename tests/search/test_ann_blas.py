"""faiss's bundled OpenBLAS gets the CPU's kernels (it takes a Sapphire Rapids Xeon for a Prescott)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("faiss", reason="the approximate store needs faiss (the test extra installs faiss-cpu)")

# The core type faiss's OpenBLAS chose, read from the library loaded in a fresh process.
PROBE = """
import ctypes, os
from vistamatch.search import ann
ann._faiss()
paths = sorted({line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.split()[-1] and "faiss" in line})
cores = []
for path in paths:
    lib = ctypes.CDLL(path)
    lib.openblas_get_corename.restype = ctypes.c_char_p
    cores.append(lib.openblas_get_corename().decode())
print(os.environ.get("OPENBLAS_CORETYPE"), ",".join(cores))
"""


def probe(**env) -> tuple[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    setting, cores = out.stdout.split()
    return setting, cores


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU flags from /proc/cpuinfo (Linux)")
def test_an_avx512_cpu_gets_the_skylakex_kernels_and_others_are_left_to_openblas():
    avx512 = any(line.startswith("flags") and " avx512f" in line for line in open("/proc/cpuinfo"))
    setting, cores = probe()
    if avx512:
        assert (setting, cores) == ("SkylakeX", "SkylakeX")
    else:
        assert setting == "None" and cores


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="finds the loaded library in /proc/self/maps (Linux)")
def test_the_users_own_choice_is_kept():
    assert probe(OPENBLAS_CORETYPE="Haswell") == ("Haswell", "Haswell")
