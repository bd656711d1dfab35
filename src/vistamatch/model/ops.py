"""Float32 building blocks of the forward pass: erf GELU, SiLU gating, LayerNorm, softmax."""

from __future__ import annotations

import math

import numpy as np

# Abramowitz & Stegun 7.1.26: erfc(a) ~= poly(t) * exp(-a^2), t = 1 / (1 + P a), a >= 0; |error| <= 1.5e-7
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)

# GELU works through rows in blocks of about 64K values: its scratch buffers then stay in L2.
_BLOCK_VALUES = 65536


def _horner(t: np.ndarray, coefs: tuple[float, ...]) -> np.ndarray:
    """sum(c_i * t^(i+1)), evaluated in place in one new buffer."""
    r = t * np.float32(coefs[-1])
    for c in reversed(coefs[:-1]):
        r += np.float32(c)
        r *= t
    return r


# gelu(x) = x/2 (1 + erf(x/sqrt2)) = relu(x) - |x|/2 erfc(|x|/sqrt2): no sign select needed.
_GELU_P = _P / math.sqrt(2.0)
_GELU_A = tuple(0.5 * c for c in _A)


def gelu_(x: np.ndarray) -> None:
    """GELU with erf (not the tanh approximation; abs error < 2e-6), in place on a 2-D float32 array."""
    step = max(1, _BLOCK_VALUES // x.shape[-1])
    for start in range(0, x.shape[0], step):
        _gelu_block_(x[start : start + step])


# Arguments are clamped where the exact value no longer matters in float32, so that exp() never
# produces subnormal numbers: arithmetic on those is tens of times slower on x86.
_GELU_ABS_MAX = 12.0  # erfc(12/sqrt2)/2 ~ 2e-33: gelu(x) = relu(x) to far below float32's resolution
_EXP_MIN = -80.0  # exp(-80) ~ 2e-35, still a normal float32


def _gelu_block_(x: np.ndarray) -> None:
    a = np.abs(x)
    np.minimum(a, np.float32(_GELU_ABS_MAX), out=a)
    t = a + np.float32(1 / _GELU_P)  # t = 1 / (1 + P a) = (1/P) / (1/P + a)
    np.divide(np.float32(1 / _GELU_P), t, out=t)
    half_erfc = _horner(t, _GELU_A)
    np.multiply(a, a, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    half_erfc *= t
    half_erfc *= a
    np.maximum(x, np.float32(0), out=x)
    x -= half_erfc


def silu_mul_(gate: np.ndarray, up: np.ndarray) -> None:
    """gate <- silu(gate) * up, in place (SwiGLU)."""
    s = np.negative(gate)
    np.clip(s, np.float32(_EXP_MIN), np.float32(-_EXP_MIN), out=s)
    np.exp(s, out=s)
    s += np.float32(1)
    gate /= s
    gate *= up


def exp_no_subnormals_(x: np.ndarray) -> None:
    """exp in place, arguments clamped at -80 (exp(-80) ~ 2e-35 is still a normal float32)."""
    np.maximum(x, np.float32(_EXP_MIN), out=x)
    np.exp(x, out=x)


# softmax is the same for any per-row shift; the usual one, each row's max, costs two passes. When
# every score is <= 60 nothing can overflow (exp(60) ~ 1e26), and when every row's first score is
# >= -40 no row can vanish (its sum is at least exp(-40); terms dropped below exp(-80) weigh less
# than 1e-17 of it): then the scores are exponentiated as they are.
_UNSHIFTED_MAX = 60.0
_UNSHIFTED_ROW_FLOOR = -40.0


def softmax_numerator_(scores: np.ndarray, exp_=exp_no_subnormals_) -> np.ndarray:
    """scores <- exp(scores - shift) in place, the shift 0 when safe (see above) else each row's max;
    returns the row sums (softmax = scores / sums). exp_: an in-place exp that leaves no subnormals.

    Dividing later, on the (much smaller) attention output, saves a pass over the scores."""
    if not (
        scores.max() <= _UNSHIFTED_MAX and scores[..., 0].min() >= _UNSHIFTED_ROW_FLOOR
    ):
        scores -= scores.max(axis=-1, keepdims=True)
    exp_(scores)
    return np.matmul(scores, np.ones(scores.shape[-1], np.float32))[..., None]


def normalize(x: np.ndarray, eps: float, out: np.ndarray | None = None) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) over the last axis of a 2-D array (biased variance, as torch).
    LayerNorm's scale and shift are folded into the weights that follow."""
    inv_d = np.float32(1.0 / x.shape[-1])
    mean = np.einsum("ij->i", x)[:, None]  # einsum: a third of ndarray.mean's time here
    mean *= inv_d
    out = np.subtract(x, mean, out=out)
    var = np.einsum("ij,ij->i", out, out)[:, None]
    var *= inv_d
    var += np.float32(eps)
    np.sqrt(var, out=var)
    np.divide(np.float32(1), var, out=var)
    out *= var
    return out


def layer_norm(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float
) -> np.ndarray:
    out = normalize(x, eps)
    out *= weight
    out += bias
    return out
