"""NumPy attention equals the torch version (layers/attention.py) on the same numbers."""

import numpy as np
import pytest
import torch

from layers.attention import scaled_dot_product_attention
from layers.numpy_attention import numpy_attention


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 8), (2, 3, 6, 4)])
def test_numpy_attention_matches_the_torch_version(shape, masked):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(shape) for _ in range(3))
    mask = rng.random(shape[-2]) < 0.6 if masked else None
    if mask is not None:
        mask[0] = True
    values, weights = numpy_attention(q, k, v, mask)
    scores_shape = (*shape[:-1], shape[-2])  # torch's layer takes (B, Tk) or the scores' shape, not (Tk,)
    t_mask = None if mask is None else torch.from_numpy(np.broadcast_to(mask, scores_shape).copy())
    t_values, t_weights = scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)), t_mask)
    assert values.shape == shape and weights.shape == (*shape[:-1], shape[-2])
    np.testing.assert_allclose(values, t_values.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights, t_weights.numpy(), rtol=1e-10, atol=1e-12)


def test_the_worked_example_and_a_query_that_sees_nothing():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    k = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    _, weights = numpy_attention(q, k, v)
    expected = np.exp(np.array([1.0, 0.0, 1.0]) / np.sqrt(2)) / np.exp(np.array([1.0, 0.0, 1.0]) / np.sqrt(2)).sum()
    np.testing.assert_allclose(weights[0], expected)
    np.testing.assert_allclose(weights.sum(-1), 1.0)
    values, weights = numpy_attention(q, k, v, np.zeros((2, 3), dtype=bool))
    assert (weights == 0).all() and (values == 0).all() and np.isfinite(values).all()
