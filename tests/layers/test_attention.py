"""Hand-built attention against torch's: values and gradients, masks, properties, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layers.attention import (
    MultiHeadAttention,
    SelfAttention,
    SimpleSelfAttention,
    attention_weights,
    scaled_dot_product_attention,
)
from layers.kv_cache import KVCache
from tests.utils import (
    assert_close,
    assert_same_backward,
    copy_parameters,
    mha_names,
    padding_mask,
    random_padding_mask,
)

DTYPES = [torch.float32, torch.float64]


def reference_mask(mask, causal, batch_dims, tq, tk):
    """The same visibility as a bool mask for F.scaled_dot_product_attention (True = take part)."""
    allowed = torch.ones(tq, tk, dtype=torch.bool)
    if causal:
        allowed = allowed.tril(diagonal=tk - tq)
    if mask is not None:
        allowed = allowed & mask.view(mask.shape[0], *([1] * (batch_dims - 1)), 1, tk)
    return allowed


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 5, 8), (4, 1, 7, 16), (3, 6, 4)])
def test_scaled_dot_product_attention_matches_torch(shape, masked, causal, dtype):
    q, k, v = (torch.randn(shape, dtype=dtype, requires_grad=True) for _ in range(3))
    batch, t = shape[0], shape[-2]
    mask = random_padding_mask(batch, t) if masked else None

    out, weights = scaled_dot_product_attention(q, k, v, mask, causal=causal)
    allowed = reference_mask(mask, causal, len(shape) - 2, t, t)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    assert_close(out, expected)
    assert_close(weights.sum(-1), torch.ones(shape[:-1], dtype=dtype))
    assert (weights.masked_select(~allowed.expand_as(weights)) == 0).all()

    upstream = torch.randn_like(out)
    ours = torch.autograd.grad(out, (q, k, v), upstream)
    theirs = torch.autograd.grad(expected, (q, k, v), upstream)
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, b)


def test_causal_with_fewer_queries_than_keys_aligns_to_the_last_query():
    q, k, v = torch.randn(2, 3, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    _, weights = scaled_dot_product_attention(q, k, v, causal=True)
    # queries are positions 2, 3, 4 of a 5-token sequence: they see 3, 4 and 5 keys
    assert (weights[:, 0, 3:] == 0).all() and (weights[:, 0, :3] > 0).all()
    assert (weights[:, 2] > 0).all()


def test_query_with_no_visible_key_gives_zeros_and_finite_gradients():
    q, k, v = (torch.randn(2, 2, 4, 8, requires_grad=True) for _ in range(3))
    mask = padding_mask([0, 3], 4)  # the first sequence is all padding
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert (out[0] == 0).all() and (weights[0] == 0).all()
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_dropout_applies_to_the_weights_only_when_asked():
    q = k = v = torch.randn(2, 5, 8)
    plain, _ = scaled_dot_product_attention(q, k, v)
    dropped, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert not torch.equal(plain, dropped)
    assert_close(weights.sum(-1), torch.ones(2, 5))  # returned weights are the ones before dropout


@pytest.mark.parametrize("scaled", [False, True])
def test_simple_self_attention_is_softmax_x_xt_x(scaled):
    x = torch.randn(3, 6, 10, dtype=torch.float64, requires_grad=True)
    mask = random_padding_mask(3, 6)
    out, weights = SimpleSelfAttention(scaled=scaled)(x, mask, return_weights=True)
    scores = x @ x.transpose(1, 2) / (10**0.5 if scaled else 1.0)
    expected_weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
    assert_close(weights, expected_weights)
    assert_close(out, expected_weights @ x)
    assert list(SimpleSelfAttention().parameters()) == []


def test_self_attention_matches_the_formula_and_has_three_d_by_d_matrices():
    attn = SelfAttention(12).double()
    assert sorted(p.shape for p in attn.parameters()) == [(12, 12)] * 3
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    mask = random_padding_mask(2, 5)
    q, k, v = x @ attn.query.weight.T, x @ attn.key.weight.T, x @ attn.value.weight.T
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :])
    assert_close(attn(x, mask), expected)


def make_pair(d_model, n_heads, dtype, attn_impl="manual", bias=True):
    ours = MultiHeadAttention(d_model, n_heads, bias=bias, attn_impl=attn_impl).to(dtype)
    reference = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True).to(dtype)
    copy_parameters(ours, reference, mha_names())
    return ours, reference


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(("batch", "t", "d_model", "n_heads"), [(2, 5, 8, 2), (3, 9, 32, 4), (1, 4, 24, 1)])
def test_multi_head_attention_matches_nn_multihead_attention(batch, t, d_model, n_heads, masked, dtype, attn_impl):
    ours, reference = make_pair(d_model, n_heads, dtype, attn_impl)
    x = torch.randn(batch, t, d_model, dtype=dtype, requires_grad=True)
    mask = random_padding_mask(batch, t) if masked else None

    out = ours(x, mask)
    expected, _ = reference(x, x, x, key_padding_mask=None if mask is None else ~mask, need_weights=False)
    assert_same_backward(out, expected, x, ours, reference, mha_names())


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_causal_multi_head_attention_matches_nn_multihead_attention(attn_impl):
    ours, reference = make_pair(16, 4, torch.float64, attn_impl)
    ours.causal = True
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    mask = random_padding_mask(3, 7)
    future = torch.ones(7, 7, dtype=torch.bool).triu(1)  # True = not allowed, torch's convention
    expected, weights = reference(x, x, x, key_padding_mask=~mask, attn_mask=future)
    assert_close(ours(x, mask), expected)
    assert_close(ours.get_attention_weights(x, mask).mean(1), weights)  # nn.MHA averages the heads


def test_bias_free_attention_matches_too():
    ours, reference = make_pair(16, 2, torch.float64, bias=False)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    assert_close(ours(x), reference(x, x, x, need_weights=False)[0])


def test_attention_weights_from_every_entry_point_agree():
    attn = MultiHeadAttention(16, 4).double()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    mask = random_padding_mask(2, 6)
    out, weights = attn(x, mask, return_weights=True)
    assert weights.shape == (2, 4, 6, 6)
    assert_close(attn.get_attention_weights(x, mask), weights)
    q, k, v = attn.project(x)
    values, weights_again = attn.apply_attention(q, k, v, mask)
    assert_close(weights_again, weights)
    assert_close(attn.out_proj(attn.merge_heads(values)), out)
    assert_close(attention_weights(q, k, mask), weights)


def test_merge_heads_inverts_split_heads():
    attn = MultiHeadAttention(24, 3)
    x = torch.randn(4, 7, 24)
    heads = attn.split_heads(x)
    assert heads.shape == (4, 3, 7, 8)
    assert torch.equal(attn.merge_heads(heads), x)
    assert torch.equal(heads[:, 1], x[..., 8:16])  # head h owns features h·Dh … (h+1)·Dh − 1


@pytest.mark.parametrize("head_width", [1, 5, 16])
def test_split_and_merge_heads_work_for_any_per_head_width(head_width):
    attn = MultiHeadAttention(24, 3)  # its own heads are 8 wide; these inputs carry other widths
    x = torch.randn(2, 7, 3 * head_width)
    heads = attn.split_heads(x)
    reference = x.reshape(2, 7, 3, head_width).permute(0, 2, 1, 3)  # (B, H, T, d)
    assert heads.shape == (2, 3, 7, head_width) and torch.equal(heads, reference)
    assert torch.equal(attn.merge_heads(heads), x)
    y = torch.randn(2, 3, 4, head_width)  # (B, H, T, d) of another length too
    assert torch.equal(attn.split_heads(attn.merge_heads(y)), y)


def test_split_heads_refuses_a_width_the_heads_cannot_share():
    with pytest.raises(ValueError, match="cannot split a width of 10 into 3 heads"):
        MultiHeadAttention(24, 3).split_heads(torch.randn(2, 7, 10))


@pytest.mark.parametrize(("d_model", "n_heads", "bias"), [(8, 2, True), (64, 4, True), (48, 6, False)])
def test_parameter_count_is_four_d_squared_plus_four_d(d_model, n_heads, bias):
    n = sum(p.numel() for p in MultiHeadAttention(d_model, n_heads, bias=bias).parameters())
    assert n == 4 * d_model**2 + (4 * d_model if bias else 0)


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_causal_attention_never_looks_ahead(attn_impl):
    attn = MultiHeadAttention(16, 4, causal=True, attn_impl=attn_impl).eval()
    x = torch.randn(2, 8, 16)
    before = attn(x)
    for t in range(7):
        perturbed = x.clone()
        perturbed[:, t + 1 :] += torch.randn_like(perturbed[:, t + 1 :])
        after = attn(perturbed)
        assert_close(after[:, : t + 1], before[:, : t + 1])
        assert not torch.allclose(after[:, t + 1], before[:, t + 1])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_appending_padding_leaves_real_tokens_unchanged(attn_impl, causal):
    attn = MultiHeadAttention(16, 2, causal=causal, attn_impl=attn_impl).eval()
    x = torch.randn(3, 5, 16)
    mask = padding_mask([5, 3, 1], 5)
    out = attn(x, mask)
    padded = torch.cat([x, torch.randn(3, 4, 16)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    out_padded = attn(padded, padded_mask)
    assert_close(out_padded[:, :5][mask], out[mask])


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_all_padding_sequence_gives_finite_outputs_and_gradients(attn_impl):
    attn = MultiHeadAttention(16, 4, attn_impl=attn_impl)
    x = torch.randn(2, 5, 16, requires_grad=True)
    mask = padding_mask([0, 5], 5)
    out = attn(x, mask)
    assert torch.isfinite(out).all()
    assert_close(out[0], attn.out_proj.bias.expand(5, 16))  # zero values, then the output bias
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_bf16_autocast_gives_finite_outputs(attn_impl):
    attn = MultiHeadAttention(32, 4, causal=True, attn_impl=attn_impl)
    x = torch.randn(2, 6, 32, requires_grad=True)
    mask = padding_mask([0, 4], 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attn(x, mask)
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all()


def test_fp16_all_masked_rows_stay_finite_and_masked_keys_get_no_weight():
    # fp16 overflows at -65504: a mask value of finfo.min added to a negative score would become -inf.
    q, k, v = (torch.randn(2, 2, 5, 8).half() * 4 for _ in range(3))
    mask = padding_mask([0, 2], 5)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and (out[0] == 0).all()
    assert (weights[1, :, :, 2:] == 0).all()
    assert_close(weights[1].float().sum(-1), torch.ones(2, 5), atol=1e-3, rtol=1e-3)


def test_fused_and_manual_paths_agree_in_training_mode_without_dropout():
    manual = MultiHeadAttention(32, 4, causal=True)
    fused = MultiHeadAttention(32, 4, causal=True, attn_impl="sdpa")
    fused.load_state_dict(manual.state_dict())
    x = torch.randn(3, 10, 32)
    mask = random_padding_mask(3, 10)
    assert_close(fused(x, mask), manual(x, mask))


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_incremental_decoding_with_a_cache_equals_the_full_pass(attn_impl):
    attn = MultiHeadAttention(16, 4, causal=True, attn_impl=attn_impl).double().eval()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    full = attn(x)
    cache = KVCache()
    prompt = attn(x[:, :4], cache=cache)  # a prompt of 4 tokens, then one token at a time
    steps = [attn(x[:, t : t + 1], cache=cache) for t in range(4, 9)]
    assert len(cache) == 9
    assert_close(torch.cat([prompt, *steps], dim=1), full)


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="attn_impl"):
        MultiHeadAttention(8, 2, attn_impl="flash")
    attn = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    with pytest.raises(TypeError, match="bool"):
        attn(x, torch.ones(2, 5))
    with pytest.raises(ValueError, match="does not match"):
        attn(x, torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="fits neither"):
        attn(x, torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        attn(torch.randn(5, 8))
    with pytest.raises(ValueError, match="last dimension 8"):
        attn(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="rank"):
        scaled_dot_product_attention(torch.randn(4), torch.randn(4), torch.randn(4))
