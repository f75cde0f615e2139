"""NumPy attention equals the torch version (layers/attention.py) on the same numbers."""

import math

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


def homework_attention(sent: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray):
    """The NLP homework's attention function: the projections inside, a (n, 2) sentence in, (n, 2) out."""
    return numpy_attention(sent @ w_q, sent @ w_k, sent @ w_v)


@pytest.mark.parametrize("n_tokens", [5, 1, 9])
def test_the_homeworks_example_shapes_equal_the_torch_attention_and_a_loop(n_tokens):
    # The homework's shapes: W^Q and W^K are (2, 37), W^V is (2, 2), a sentence is n tokens of 2-d embeddings
    # (n = 5 in its example, any n in its function), the output has the sentence's shape.
    rng = np.random.default_rng(1)
    w_q, w_k, w_v = rng.random((2, 37)), rng.random((2, 37)), rng.random((2, 2))
    sent = rng.random((n_tokens, 2))
    values, weights = homework_attention(sent, w_q, w_k, w_v)
    assert (sent @ w_q).shape == (n_tokens, 37) and values.shape == sent.shape == (n_tokens, 2)

    t_sent, t_wq, t_wk, t_wv = (torch.from_numpy(a) for a in (sent, w_q, w_k, w_v))
    t_values, t_weights = scaled_dot_product_attention(t_sent @ t_wq, t_sent @ t_wk, t_sent @ t_wv)
    np.testing.assert_allclose(values, t_values.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(weights, t_weights.numpy(), rtol=1e-12, atol=1e-14)

    # An independent reference, one query at a time with math's exp: the equation as the homework writes it.
    q, k, v = sent @ w_q, sent @ w_k, sent @ w_v
    for i in range(n_tokens):
        scores = [float(q[i] @ k[j]) / math.sqrt(37) for j in range(n_tokens)]
        exps = [math.exp(s - max(scores)) for s in scores]
        expected_weights = [e / sum(exps) for e in exps]
        expected_value = sum(w * v[j] for j, w in enumerate(expected_weights))
        np.testing.assert_allclose(weights[i], expected_weights, rtol=1e-12)
        np.testing.assert_allclose(values[i], expected_value, rtol=1e-12)


def test_the_homeworks_printed_softmax_rows():
    # The homework's softmax demo prints a matrix and its row-wise softmax. With keys the identity (Dk = 5) and
    # queries √5 times the matrix, the attention scores are the matrix itself, so the weights must be the
    # homework's printed rows (first five rows, printed to 8 decimals).
    matrix = np.array(
        [
            [0.75774054, 0.91338009, 0.99072117, 0.26826807, 0.31164955],
            [0.33288311, 0.42120983, 0.05332367, 0.16573012, 0.51192462],
            [0.02335728, 0.28358279, 0.87086216, 0.22090578, 0.41425459],
            [0.86413902, 0.76811262, 0.90006266, 0.92857764, 0.28078358],
            [0.93520885, 0.51576825, 0.26307401, 0.87664501, 0.60407663],
        ]
    )
    printed = np.array(
        [
            [0.21350016, 0.24945465, 0.26951343, 0.13086485, 0.1366669],
            [0.20447379, 0.22335592, 0.15460607, 0.17299917, 0.24456505],
            [0.13646739, 0.17702858, 0.31848984, 0.16627353, 0.20174066],
            [0.21883755, 0.19880079, 0.22684191, 0.2334034, 0.12211635],
            [0.26114706, 0.17168186, 0.13334621, 0.2462925, 0.18753237],
        ]
    )
    _, weights = numpy_attention(np.sqrt(5) * matrix, np.eye(5), np.eye(5))
    np.testing.assert_allclose(weights, printed, atol=1e-8)
