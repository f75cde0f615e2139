"""Bidirectional attention by tiles: the same values and gradients as the plain formula and torch's kernel,
the mask contract, dropout, compilation, and no (T, T) tensor kept for the backward."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import layers.attention
from layers.attention import MultiHeadAttention, scaled_dot_product_attention
from layers.blocked_attention import WHOLE_MATRIX_BYTES, blocked_attention, blocked_attention_pays, plan_tiles
from tests.utils import assert_close, copy_parameters, mha_names, padding_mask

# (q shape, number of keys): self- and cross-attention, one and several leading dims, odd sizes.
SHAPES = [((2, 3, 70, 8), 70), ((3, 33, 16), 50), ((1, 2, 5, 4), 9), ((2, 4, 130, 8), 130)]
TILES = [(1, 4), (2, 16), (5, 7), None]


def gradients(out, inputs, upstream):
    return torch.autograd.grad(out, inputs, upstream)


def qkv(q_shape, keys, dtype=torch.float64):
    k_shape = (*q_shape[:-2], keys, q_shape[-1])
    return (torch.randn(s, dtype=dtype, requires_grad=True) for s in (q_shape, k_shape, k_shape))


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("shape", "keys"), SHAPES)
def test_equals_the_plain_formula_and_torch_values_and_gradients(shape, keys, dtype, tile):
    q, k, v = qkv(shape, keys, dtype)
    upstream = torch.randn(shape, dtype=dtype)
    out = blocked_attention(q, k, v, tile=tile)
    plain, _ = scaled_dot_product_attention(q, k, v)
    fused = F.scaled_dot_product_attention(q, k, v)
    assert_close(out, plain)
    assert_close(out, fused)
    for ours, theirs in zip(gradients(out, (q, k, v), upstream), gradients(fused, (q, k, v), upstream), strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("tile", TILES)
def test_padding_of_any_form_and_a_sequence_of_padding_only(tile):
    t = 70
    q, k, v = qkv((4, 2, t, 8), t)
    mask = padding_mask([t, t - 40, t, 0], t)  # right padding; the last sequence is padding only
    mask[2, :50] = False  # left padding
    mask[0, 10:20] = False  # a hole in the middle
    out = blocked_attention(q, k, v, mask, tile=tile)
    plain, _ = scaled_dot_product_attention(q, k, v, mask)
    assert_close(out, plain)
    assert (out[3] == 0).all()
    upstream = torch.randn_like(out)
    for ours, theirs in zip(gradients(out, (q, k, v), upstream), gradients(plain, (q, k, v), upstream), strict=True):
        assert_close(ours, theirs)
        assert torch.isfinite(ours).all()


def test_tiles_read_keys_up_to_their_rows_last_real_key_only():
    mask = padding_mask([6, 2, 9, 0], 10)
    mask[1, 7] = True  # a real key after padding: row 1 must read up to key 7
    key_bias = torch.zeros(4, 1, 10).masked_fill_(~mask[:, None], -1e30)
    assert plan_tiles(4, 5, 10, 1, 5, key_bias) == [(0, 1, 0, 5, 6), (1, 2, 0, 5, 8), (2, 3, 0, 5, 9), (3, 4, 0, 5, 0)]
    assert plan_tiles(4, 5, 10, 2, 3, key_bias) == [(0, 2, 0, 3, 8), (0, 2, 3, 5, 8), (2, 4, 0, 3, 9), (2, 4, 3, 5, 9)]
    assert plan_tiles(4, 5, 10, 4, 5, None) == [(0, 4, 0, 5, 10)]


def test_written_out_gradient_passes_gradcheck_with_mask_and_dropout():
    q, k, v = qkv((2, 11, 3), 13)
    mask = padding_mask([13, 8], 13)
    mask[1, :2] = False
    assert torch.autograd.gradcheck(lambda q, k, v: blocked_attention(q, k, v, mask, tile=(1, 4)), (q, k, v))

    def seeded_dropout(q, k, v):  # the same keep masks at every call, so the function is deterministic
        torch.manual_seed(0)
        return blocked_attention(q, k, v, mask, dropout_p=0.3, tile=(1, 4))

    assert torch.autograd.gradcheck(seeded_dropout, (q, k, v))


def test_dropout_drops_weights_at_its_rate_and_keeps_the_expectation_under_the_global_seed():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 80, 4, dtype=torch.float64) for _ in range(3))
    clean = blocked_attention(q, k, v)
    draws = torch.stack([blocked_attention(q, k, v, dropout_p=0.5, tile=(1, 16)) for _ in range(400)])
    assert not torch.equal(draws[0], draws[1])
    # Inverted dropout is unbiased: the mean of many draws approaches the output without dropout.
    assert (draws.mean(0) - clean).abs().max() < 0.15
    assert (draws.mean(0) - clean).abs().mean() < 0.03
    torch.manual_seed(5)
    first = blocked_attention(q, k, v, dropout_p=0.5)
    torch.manual_seed(5)
    assert torch.equal(blocked_attention(q, k, v, dropout_p=0.5), first)


def saved_numels(fn):
    """Sizes of the tensors autograd keeps from the forward for the backward."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        fn()
    return sizes


def test_no_tensor_of_the_size_of_the_score_matrix_is_kept_for_the_backward():
    n, t, dh = 8, 256, 16
    q, k, v = (torch.randn(n, t, dh, requires_grad=True) for _ in range(3))
    mask = padding_mask([t, t - 30, t, t, 100, t, t, t], t)
    blocked = saved_numels(lambda: blocked_attention(q, k, v, mask))
    plain = saved_numels(lambda: scaled_dot_product_attention(q, k, v, mask))
    assert max(blocked) == n * t * dh  # q, Kᵀ, v and the output: O(T) per row
    assert max(plain) == n * t * t  # the textbook path keeps the weights: O(T²)


def test_multi_head_attention_takes_the_tiled_path_and_matches_nn_multihead_attention(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return blocked_attention(*args, **kwargs)

    monkeypatch.setattr(layers.attention, "blocked_attention", spy)
    t, d, h = 200, 16, 4
    ours = MultiHeadAttention(d, h).double()
    reference = nn.MultiheadAttention(d, h, batch_first=True).double()
    copy_parameters(ours, reference, mha_names())
    x = torch.randn(5, t, d, dtype=torch.float64, requires_grad=True)
    mask = padding_mask([t, 150, 37, t, 1], t)
    out = ours(x, mask)
    expected, _ = reference(x, x, x, key_padding_mask=~mask, need_weights=False)
    assert calls == [(5, h, t, d // h)]
    assert_close(out, expected)
    upstream = torch.randn_like(out)
    assert_close(gradients(out, (x,), upstream)[0], gradients(expected, (x,), upstream)[0])
    # The weights are only ever computed in full, by the plain formula.
    _, weights = ours(x, mask, return_weights=True)
    assert weights.shape == (5, h, t, t) and len(calls) == 1


def test_small_score_matrices_masks_per_query_and_autocast_take_the_plain_path():
    t = 256
    big = torch.randn(4, 4, t, 16)  # 4·4·256·256·4 bytes of scores = 4 MiB
    assert 4 * 4 * t * t * 4 > WHOLE_MATRIX_BYTES
    assert blocked_attention_pays(big, big, None)
    assert blocked_attention_pays(big, big, torch.ones(4, t, dtype=torch.bool))
    small = torch.randn(2, 2, 64, 16)
    assert not blocked_attention_pays(small, small, None)
    assert not blocked_attention_pays(big, big, torch.ones(4, 1, t, t, dtype=torch.bool))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not blocked_attention_pays(big, big, None)


def test_compiles_into_one_graph():
    q, k, v = qkv((2, 2, 40, 8), 40, torch.float32)
    mask = padding_mask([40, 13], 40)
    compiled = torch.compile(lambda q, k, v: blocked_attention(q, k, v, mask, tile=(2, 16)), backend="aot_eager")
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(lambda q, k, v: blocked_attention(q, k, v, mask, tile=(2, 16)))(q, k, v)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    out = compiled(q, k, v)
    plain, _ = scaled_dot_product_attention(q, k, v, mask)
    assert_close(out, plain)
    upstream = torch.randn_like(out)
    for ours, theirs in zip(gradients(out, (q, k, v), upstream), gradients(plain, (q, k, v), upstream), strict=True):
        assert_close(ours, theirs)


def test_bfloat16_inputs_stay_finite_and_close_to_float32():
    q, k, v = (torch.randn(2, 2, 100, 8) for _ in range(3))
    mask = padding_mask([100, 60], 100)
    expected = blocked_attention(q, k, v, mask)
    out = blocked_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert_close(out.float(), expected, atol=5e-2, rtol=5e-2)


def test_bad_arguments_get_clear_errors():
    q = torch.randn(2, 3, 20, 8)
    with pytest.raises(ValueError, match="same leading dims"):
        blocked_attention(q, q[..., :-1], q)
    with pytest.raises(ValueError, match="rank"):
        blocked_attention(q, q[0], q)
    with pytest.raises(ValueError, match="dropout_p"):
        blocked_attention(q, q, q, dropout_p=1.0)
    with pytest.raises(ValueError, match=r"\(batch, keys\)"):
        blocked_attention(q, q, q, torch.ones(3, 20, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        blocked_attention(q, q, q, torch.ones(2, 20))
    with pytest.raises(ValueError, match="per key"):
        blocked_attention(q, q, q, torch.ones(2, 1, 20, 20, dtype=torch.bool))
