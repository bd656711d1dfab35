"""Load-time folding (folding.py) and the schedule's shares (schedule.py), each on its own."""

from __future__ import annotations

import numpy as np
import pytest

from vistamatch.model import Dinov2Config, random_state_dict
from vistamatch.model.folding import fold_weights
from vistamatch.model.kernels import NumpyKernels
from vistamatch.model.ops import normalize
from vistamatch.model.parallel import Runner
from vistamatch.model.schedule import Schedule, Steps

CONFIG = Dinov2Config(
    hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=48, image_size=28
)


def _layer_norm(x, w, b, eps):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


@pytest.mark.parametrize("groups", [[slice(0, 4)], [slice(0, 2), slice(2, 4)]])
def test_folded_projections_equal_the_released_ones(groups):
    """normalize(x) @ w + b with the folded arrays is the released LayerNorm + Linear (+ scale),
    and each head group's Q | K | V columns are its own heads'."""
    sd = {k: v.astype(np.float64) for k, v in random_state_dict(CONFIG, seed=5).items()}
    layer = fold_weights(sd, CONFIG, groups).layers[0]
    p, d, hd = "encoder.layer.0.", CONFIG.hidden_size, CONFIG.head_dim
    x = np.random.default_rng(0).standard_normal((7, d))
    normed = normalize(x.astype(np.float32), CONFIG.layer_norm_eps)
    n1 = _layer_norm(x, sd[p + "norm1.weight"], sd[p + "norm1.bias"], CONFIG.layer_norm_eps)
    qkv = normed @ layer.w_qkv + layer.b_qkv
    col = 0
    for heads in groups:
        for part, scale in (("query", hd**-0.5), ("key", 1), ("value", 1)):
            name = p + "attention.attention." + part
            rows = slice(heads.start * hd, heads.stop * hd)
            want = (n1 @ sd[name + ".weight"][rows].T + sd[name + ".bias"][rows]) * scale
            width = rows.stop - rows.start
            np.testing.assert_allclose(qkv[:, col : col + width], want, atol=1e-5)
            col += width
    n2 = _layer_norm(x, sd[p + "norm2.weight"], sd[p + "norm2.bias"], CONFIG.layer_norm_eps)
    want = n2 @ sd[p + "mlp.fc1.weight"].T + sd[p + "mlp.fc1.bias"]
    np.testing.assert_allclose(normed @ layer.w_in + layer.b_in, want, atol=1e-5)
    h = np.random.default_rng(1).standard_normal((7, CONFIG.intermediate_size))
    want = (h @ sd[p + "mlp.fc2.weight"].T + sd[p + "mlp.fc2.bias"]) * sd[p + "layer_scale2.lambda1"]
    np.testing.assert_allclose(h.astype(np.float32) @ layer.w_out + layer.b_out, want, atol=1e-5)


@pytest.mark.parametrize("threads, heads, groups", [(1, 12, 1), (2, 12, 2), (2, 3, 1), (3, 12, 3), (4, 6, 3)])
def test_head_groups_are_the_most_threads_that_divide_the_heads(threads, heads, groups):
    schedule = Schedule(threads, heads, NumpyKernels())
    if schedule.threads != threads:
        pytest.skip("this NumPy's BLAS is not OpenBLAS: the model runs its pieces in order")
    assert len(schedule.head_groups) == groups
    assert np.concatenate([np.arange(heads)[g] for g in schedule.head_groups]).tolist() == list(range(heads))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_add_terms_adds_every_share_once_and_the_bias(threads):
    rng = np.random.default_rng(2)
    a, w = rng.standard_normal((5, 40), np.float32), rng.standard_normal((40, 8), np.float32)
    resid, bias = rng.standard_normal((5, 8), np.float32), rng.standard_normal(8, np.float32)
    steps = Steps(Runner(threads), NumpyKernels())
    shares = steps.hidden_shares(40)
    want = resid.astype(np.float64) + a.astype(np.float64) @ w + bias
    steps.add_terms(resid, shares, lambda cols: (a[:, cols], w[cols]), bias)
    np.testing.assert_allclose(resid, want, atol=1e-4)
