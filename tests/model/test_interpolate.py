"""Bicubic resizing against PyTorch: live (with torch), from golden outputs, and by analytic properties.

Regenerate the golden file (needs torch): python tests/model/test_interpolate.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vistamatch.model.interpolate import bicubic_resize, bicubic_scale, resize_matrix

GOLDEN = Path(__file__).parent / "fixtures" / "interpolate_golden.npz"
REL_TOL = 1e-5  # max abs difference / max abs value

# Target sizes for the 37x37 DINOv2 position grid: down, non-square, up, and unchanged.
SIZES = [(16, 16), (16, 22), (7, 10), (22, 16), (40, 50), (74, 37), (37, 37), (1, 1)]
# DINOv2's original scale factors: (grid + 0.1) / 37 for a 16x16, 16x22 and 40x50 grid; plus two
# where the length along one axis stays 37 (antialias then leaves that axis untouched).
SCALES = [(16.1 / 37, 16.1 / 37), (16.1 / 37, 22.1 / 37), (40.1 / 37, 50.1 / 37), (1.01, 0.5), (2.0, 1.02)]
INPUTS = {"grid37": (1, 37, 37), "oblong": (1, 20, 29)}  # the live test varies channels


def _cases() -> list[tuple[str, str, tuple, bool]]:
    """(case id, input name, ("size", h, w) or ("scale", sh, sw), antialias)."""
    cases = []
    for name in INPUTS:
        for aa in (False, True):
            tag = "aa" if aa else "plain"
            cases += [(f"{name}-size{h}x{w}-{tag}", name, ("size", h, w), aa) for h, w in SIZES]
            cases += [(f"{name}-scale{sh:.4f}x{sw:.4f}-{tag}", name, ("scale", sh, sw), aa) for sh, sw in SCALES]
    return cases


CASES = _cases()


def _ours(x: np.ndarray, how: tuple, antialias: bool) -> np.ndarray:
    kind, a, b = how
    resize = bicubic_resize if kind == "size" else bicubic_scale
    return resize(x, a, b, antialias=antialias)


def _torch(x: np.ndarray, how: tuple, antialias: bool) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    kind, a, b = how
    arg = {"size": (a, b)} if kind == "size" else {"scale_factor": (a, b)}
    t = torch.from_numpy(x if x.ndim == 4 else x[None])
    out = F.interpolate(t, mode="bicubic", align_corners=False, antialias=antialias, **arg).numpy()
    return out if x.ndim == 4 else out[0]


def _rel_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    assert ours.shape == ref.shape
    assert ours.dtype == np.float32
    return float(np.abs(ours.astype(np.float64) - ref).max() / np.abs(ref).max())


def _random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- live comparison with torch ---------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("channels", [3, 64])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(case, channels):
    pytest.importorskip("torch", reason="live comparison with torch.nn.functional.interpolate needs torch")
    _, name, how, aa = case
    _, h, w = INPUTS[name]
    x = _random((2, channels, h, w), seed=channels)
    assert _rel_diff(_ours(x, how, aa), _torch(x, how, aa)) < REL_TOL


@pytest.mark.torch
@pytest.mark.parametrize("antialias", [False, True])
def test_matches_torch_on_dinov2_sized_table(antialias):
    """A position table as DINOv2-B holds it: 768 channels, small values, every 224-pixel grid."""
    pytest.importorskip("torch", reason="live comparison with torch.nn.functional.interpolate needs torch")
    x = 0.02 * _random((768, 37, 37), seed=1)
    for grid in [(16, 16), (16, 22), (22, 16), (16, 37)]:
        assert _rel_diff(_ours(x, ("size", *grid), antialias), _torch(x, ("size", *grid), antialias)) < REL_TOL


# --- golden outputs (no torch needed) ---------------------------------------------------------


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return dict(data)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_golden(golden, case):
    case_id, name, how, aa = case
    assert _rel_diff(_ours(golden[f"input/{name}"], how, aa), golden[case_id]) < REL_TOL


# --- analytic properties ----------------------------------------------------------------------


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("out_hw", [(16, 22), (40, 50), (5, 3), (37, 90)])
def test_constant_stays_constant(antialias, out_hw):
    x = np.full((2, 37, 37), 0.37, dtype=np.float32)
    np.testing.assert_allclose(bicubic_resize(x, *out_hw, antialias=antialias), 0.37, rtol=1e-6)
    np.testing.assert_allclose(bicubic_scale(x, 0.4351, 1.3541, antialias=antialias), 0.37, rtol=1e-6)


@pytest.mark.parametrize("antialias", [False, True])
def test_same_size_is_identity(antialias):
    x = _random((4, 19, 23))
    np.testing.assert_array_equal(bicubic_resize(x, 19, 23, antialias=antialias), x)


def test_antialias_leaves_an_axis_of_unchanged_length_alone():
    """37 * 1.01 floors to 37: torch's antialias kernel copies that axis, the plain kernel resamples it."""
    x = _random((3, 37, 37))
    np.testing.assert_array_equal(bicubic_scale(x, 1.01, 1.01, antialias=True), x)
    assert np.abs(bicubic_scale(x, 1.01, 1.01) - x).max() > 0.01


def _interior_ramp_error(out_size: int, antialias: bool) -> np.ndarray:
    """Resample the ramp f(i) = i from 37 samples; error against f(src) where all taps lie inside."""
    in_size = 37
    step = in_size / out_size
    src = step * (np.arange(out_size) + 0.5) - 0.5
    interior = (src >= 1) & (src <= in_size - 3)
    resampled = resize_matrix(in_size, out_size, step, antialias=antialias) @ np.arange(in_size, dtype=np.float64)
    return (resampled - src)[interior]


def test_plain_cubic_ripples_on_linear_ramps():
    """Keys' kernel reproduces linear data only for A = -0.5; PyTorch's A = -0.75 does not.

    2x upscaling samples at fraction t = 0.25 and 0.75; there the four weights give t + 3/64 and
    t - 3/64 (hand computed), so a ramp of slope 1 ripples by +-0.046875 inside.
    """
    error = _interior_ramp_error(74, antialias=False)
    assert len(error) >= 66
    np.testing.assert_allclose(np.abs(error), 3 / 64, atol=1e-5)
    assert (error[::2] * error[1::2] < 0).all()  # alternating sign


@pytest.mark.parametrize("out_size", [40, 74, 111])
def test_antialias_upscaling_reproduces_linear_ramps_inside(out_size):
    """The antialias path keeps A = -0.5 (Pillow's), which is exact on linear data when upscaling."""
    np.testing.assert_allclose(_interior_ramp_error(out_size, antialias=True), 0.0, atol=2e-5)


def test_plain_cubic_clamps_to_edges():
    """8 -> 32: output 0 samples at -0.375, taps -2, -1, 0, 1; the two outside repeat pixel 0.

    Keys (A = -0.75) at distances 1.625, 0.625, 0.375 and 1.375: -0.06592, 0.42627, 0.74951, -0.10986.
    """
    weights = resize_matrix(8, 32, 0.25, antialias=False)
    np.testing.assert_allclose(weights[0, :2], [1.10986328125, -0.10986328125], atol=1e-9)
    assert not weights[0, 2:].any()
    ramp = np.arange(8, dtype=np.float32).reshape(1, 1, 8)
    assert bicubic_resize(ramp, 1, 32)[0, 0, 0] == pytest.approx(-0.10986328125, abs=1e-6)


def test_weights_rows_sum_to_one_and_antialias_spreads_wider():
    plain = resize_matrix(37, 7, 37 / 7, antialias=False)
    smooth = resize_matrix(37, 7, 37 / 7, antialias=True)
    np.testing.assert_allclose(plain.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(smooth.sum(axis=1), 1.0, atol=1e-12)
    assert (np.count_nonzero(plain, axis=1) <= 4).all()
    taps = np.count_nonzero(smooth, axis=1)  # support 2 * 37/7 on each side, cut at the edges
    assert taps.min() > 4 and taps[3] >= 20


def test_batched_and_unbatched_agree():
    x = _random((2, 3, 37, 37))
    batched = bicubic_resize(x, 16, 22, antialias=True)
    assert batched.shape == (2, 3, 16, 22) and batched.dtype == np.float32
    np.testing.assert_array_equal(batched[1], bicubic_resize(x[1], 16, 22, antialias=True))


def test_scale_factor_output_size_floors():
    x = _random((1, 37, 37))
    assert bicubic_scale(x, 16.1 / 37, 22.1 / 37).shape == (1, 16, 22)
    assert bicubic_scale(x, 0.999, 2.5).shape == (1, 36, 92)


@pytest.mark.parametrize("bad", [np.zeros((37, 37), np.float32), np.zeros((1, 1, 1, 37, 37), np.float32)])
def test_rejects_wrong_rank(bad):
    with pytest.raises(ValueError, match="expected"):
        bicubic_resize(bad, 16, 16)


def test_rejects_empty_sizes():
    with pytest.raises(ValueError, match="positive"):
        bicubic_resize(_random((1, 37, 37)), 0, 16)
    with pytest.raises(ValueError, match="positive"):
        bicubic_scale(_random((1, 37, 37)), 0.0, 1.0)


def _write_golden() -> None:
    """Store the inputs and torch's outputs for every case (float32)."""
    arrays = {f"input/{name}": _random(shape, seed=i) for i, (name, shape) in enumerate(INPUTS.items())}
    for case_id, name, how, aa in CASES:
        arrays[case_id] = _torch(arrays[f"input/{name}"], how, aa)
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)
    print(f"wrote {len(CASES)} cases to {GOLDEN}")


if __name__ == "__main__":
    _write_golden()
