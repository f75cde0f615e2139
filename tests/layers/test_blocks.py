"""TransformerBlock against nn.TransformerEncoderLayer, both norm placements."""

import pytest
import torch
from torch import nn

from layers.blocks import FeedForward, TransformerBlock
from tests.utils import (
    assert_close,
    assert_same_backward,
    copy_parameters,
    mha_names,
    padding_mask,
    random_padding_mask,
)

BLOCK_NAMES = {
    **mha_names("attn.", "self_attn."),
    "ff.linear1.weight": "linear1.weight",
    "ff.linear1.bias": "linear1.bias",
    "ff.linear2.weight": "linear2.weight",
    "ff.linear2.bias": "linear2.bias",
}


def make_pair(d_model, n_heads, norm, activation, dtype, attn_impl="manual"):
    ours = TransformerBlock(d_model, n_heads, norm=norm, activation=activation, attn_impl=attn_impl).to(dtype)
    reference = nn.TransformerEncoderLayer(
        d_model,
        n_heads,
        dim_feedforward=4 * d_model,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm == "pre",
    ).to(dtype)
    with torch.no_grad():
        for p in reference.parameters():  # non-trivial norms and biases, so every term is exercised
            p.normal_(0, 0.3)
    copy_parameters(ours, reference, BLOCK_NAMES)
    return ours, reference


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize(
    ("batch", "t", "d_model", "n_heads", "activation"), [(2, 6, 16, 2, "relu"), (3, 9, 32, 4, "gelu")]
)
def test_block_matches_nn_transformer_encoder_layer(
    batch, t, d_model, n_heads, activation, norm, masked, dtype, attn_impl
):
    ours, reference = make_pair(d_model, n_heads, norm, activation, dtype, attn_impl)
    x = torch.randn(batch, t, d_model, dtype=dtype, requires_grad=True)
    mask = random_padding_mask(batch, t) if masked else None
    out = ours(x, mask)
    expected = reference(x, src_key_padding_mask=None if mask is None else ~mask)
    assert_same_backward(out, expected, x, ours, reference, BLOCK_NAMES)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_block_matches_in_eval_mode_on_real_tokens(norm):
    # In eval mode torch takes its fused "fast path", which zeroes padded positions; real ones must agree.
    ours, reference = make_pair(16, 4, norm, "relu", torch.float32)
    ours.eval(), reference.eval()
    x = torch.randn(3, 7, 16)
    mask = padding_mask([7, 4, 2], 7)
    with torch.no_grad():
        assert_close(ours(x, mask)[mask], reference(x, src_key_padding_mask=~mask)[mask])


def test_feed_forward_is_two_linears_around_the_activation():
    ff = FeedForward(8, activation="gelu").double()
    assert ff.linear1.out_features == 32
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    expected = ff.linear2(torch.nn.functional.gelu(ff.linear1(x)))
    assert_close(ff(x), expected)
    with pytest.raises(ValueError, match="unknown activation"):
        FeedForward(8, activation="swish")


def test_block_returns_its_attention_weights_on_request():
    block = TransformerBlock(16, 4, attn_impl="sdpa").eval()
    x = torch.randn(2, 5, 16)
    out, weights = block(x, return_weights=True)
    assert weights.shape == (2, 4, 5, 5)
    assert_close(out, block(x))
    with pytest.raises(ValueError, match="'pre', 'post' or 'none'"):
        TransformerBlock(16, 4, norm="sandwich")
