"""Causal attention block by block: the same values and gradients as the plain formula and torch's kernel,
less work, and the mask contract."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import layers.attention
from layers.attention import MultiHeadAttention, scaled_dot_product_attention
from layers.causal_attention import BLOCK, blocks_pay, causal_attention
from tests.utils import assert_close, copy_parameters, mha_names, padding_mask

SHAPES = [(2, 3, 2 * BLOCK, 8), (3, BLOCK + 1, 16), (1, 2, 3 * BLOCK + 17, 4), (2, 5, 7, 8)]


def gradients(out, inputs, upstream):
    return torch.autograd.grad(out, inputs, upstream)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_equals_the_plain_formula_and_torch_values_and_gradients(shape, dtype):
    q, k, v = (torch.randn(shape, dtype=dtype, requires_grad=True) for _ in range(3))
    upstream = torch.randn(shape, dtype=dtype)
    out = causal_attention(q, k, v)
    plain, _ = scaled_dot_product_attention(q, k, v, causal=True)
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert_close(out, plain)
    assert_close(out, fused)
    for ours, theirs in zip(gradients(out, (q, k, v), upstream), gradients(fused, (q, k, v), upstream), strict=True):
        assert_close(ours, theirs)


@pytest.mark.parametrize("block", [4, 16, BLOCK])
def test_every_block_size_gives_the_same_result(block):
    q, k, v = (torch.randn(2, 2, 70, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    upstream = torch.randn(2, 2, 70, 8, dtype=torch.float64)
    out = causal_attention(q, k, v, block=block)
    plain, _ = scaled_dot_product_attention(q, k, v, causal=True)
    assert_close(out, plain)
    for ours, theirs in zip(gradients(out, (q, k, v), upstream), gradients(plain, (q, k, v), upstream), strict=True):
        assert_close(ours, theirs)


def test_padding_mask_hides_keys_and_a_query_that_sees_none_gets_zeros():
    t = BLOCK + 30
    q, k, v = (torch.randn(3, 2, t, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = padding_mask([t, t - 40, t], t)  # right padding in the second sequence
    mask[2, :50] = False  # left padding in the third: its first 50 queries see no real key
    out = causal_attention(q, k, v, mask)
    plain, _ = scaled_dot_product_attention(q, k, v, mask, causal=True)
    assert_close(out, plain)
    assert (out[2, :, :50] == 0).all()
    upstream = torch.randn_like(out)
    for ours, theirs in zip(gradients(out, (q, k, v), upstream), gradients(plain, (q, k, v), upstream), strict=True):
        assert_close(ours, theirs)
        assert torch.isfinite(ours).all()


def test_closed_form_gradient_passes_gradcheck_with_mask_and_dropout():
    q, k, v = (torch.randn(2, 11, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = padding_mask([11, 8], 11)
    mask[1, :2] = False
    assert torch.autograd.gradcheck(lambda q, k, v: causal_attention(q, k, v, mask, block=4), (q, k, v))

    def seeded_dropout(q, k, v):  # the same keep mask at every call, so the function is deterministic
        torch.manual_seed(0)
        return causal_attention(q, k, v, mask, dropout_p=0.3, block=4)

    assert torch.autograd.gradcheck(seeded_dropout, (q, k, v))


def test_dropout_drops_weights_at_its_rate_and_keeps_the_expectation():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 80, 4, dtype=torch.float64) for _ in range(3))
    clean = causal_attention(q, k, v)
    draws = torch.stack([causal_attention(q, k, v, dropout_p=0.5) for _ in range(400)])
    assert not torch.equal(draws[0], draws[1])
    # Inverted dropout is unbiased: the mean of many draws approaches the output without dropout.
    assert (draws.mean(0) - clean).abs().max() < 0.15
    assert (draws.mean(0) - clean).abs().mean() < 0.03


def test_work_is_the_visible_blocks_only():
    n, t, dh = 8, 4 * BLOCK, 16
    q, k, v = (torch.randn(n, t, dh, requires_grad=True) for _ in range(3))
    with FlopCounterMode(display=False) as blocked:
        causal_attention(q, k, v).sum().backward()
    with FlopCounterMode(display=False) as full:
        scaled_dot_product_attention(q, k, v, causal=True)[0].sum().backward()
    # Block r attends to (r + 1)·P keys: 1 + 2 + 3 + 4 = 10 of the 16 tiles of the full score matrix.
    visible = sum(BLOCK * (r + 1) * BLOCK for r in range(4))
    forward = 2 * 2 * n * visible * dh  # Q Kᵀ and W V, a multiply and an add each
    assert blocked.get_total_flops() == 3 * forward  # the backward's four products cost twice the forward's two
    assert full.get_total_flops() == 3 * 2 * 2 * n * t * t * dh
    assert blocked.get_total_flops() / full.get_total_flops() == pytest.approx(10 / 16)


def test_multi_head_attention_takes_the_blocked_path_and_matches_nn_multihead_attention(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return causal_attention(*args, **kwargs)

    monkeypatch.setattr(layers.attention, "causal_attention", spy)
    t, d, h = 2 * BLOCK + 9, 16, 4
    ours = MultiHeadAttention(d, h, causal=True).double()
    reference = nn.MultiheadAttention(d, h, batch_first=True).double()
    copy_parameters(ours, reference, mha_names())
    x = torch.randn(3, t, d, dtype=torch.float64, requires_grad=True)
    out = ours(x)
    causal = torch.ones(t, t, dtype=torch.bool).triu(1)  # nn.MultiheadAttention: True = not allowed
    expected, _ = reference(x, x, x, attn_mask=causal, need_weights=False)
    assert calls == [(3, h, t, d // h)]
    assert_close(out, expected)
    upstream = torch.randn_like(out)
    assert_close(gradients(out, (x,), upstream)[0], gradients(expected, (x,), upstream)[0])
    # The weights are only ever computed in full, by the plain formula.
    _, weights = ours(x, return_weights=True)
    assert weights.shape == (3, h, t, t) and len(calls) == 1


def test_short_sequences_cached_queries_masks_per_query_and_autocast_take_the_plain_path():
    t = 2 * BLOCK + 1
    long = torch.randn(2, 2, t, 8)
    assert blocks_pay(long, long, None)
    assert blocks_pay(long, long, torch.ones(2, t, dtype=torch.bool))
    short = torch.randn(2, 2, 2 * BLOCK, 8)
    assert not blocks_pay(short, short, None)  # two blocks: a quarter skipped, paid back in calls
    assert not blocks_pay(long[..., 1:, :], long, None)  # fewer queries than keys (a KV cache)
    per_query = torch.ones(2, 1, t, t, dtype=torch.bool)
    assert not blocks_pay(long, long, per_query)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not blocks_pay(long, long, None)


def test_bfloat16_inputs_stay_finite_and_close_to_float32():
    q, k, v = (torch.randn(2, 2, 2 * BLOCK, 8) for _ in range(3))
    expected = causal_attention(q, k, v)
    out = causal_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), padding_mask([2 * BLOCK, BLOCK], 2 * BLOCK))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert_close(out[0].float(), expected[0], atol=5e-2, rtol=5e-2)


def test_bad_arguments_get_clear_errors():
    q = torch.randn(2, 3, BLOCK + 4, 8)
    with pytest.raises(ValueError, match="one shape"):
        causal_attention(q, q[..., :-1, :], q)
    with pytest.raises(ValueError, match="dropout_p"):
        causal_attention(q, q, q, dropout_p=1.0)
    with pytest.raises(ValueError, match=r"\(batch, keys\)"):
        causal_attention(q, q, q, torch.ones(3, BLOCK + 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        causal_attention(q, q, q, torch.ones(2, BLOCK + 4))
    with pytest.raises(ValueError, match="per key"):
        causal_attention(q, q, q, torch.ones(2, 1, BLOCK + 4, BLOCK + 4, dtype=torch.bool))
