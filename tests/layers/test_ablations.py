"""The ablation switches (docs/ablations.md): each variant equals the formula it claims, built from the
block's own parts or from PyTorch's modules, values and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab_errors import InputError
from layers.attention import MultiHeadAttention
from layers.blocks import TransformerBlock
from layers.transformer import TransformerConfig, TransformerEncoder, TransformerLM
from networks.pretrained_export import check_bert, check_gpt2
from tests.utils import assert_close, random_padding_mask

torch.manual_seed(0)


def unscaled_twin(attn: MultiHeadAttention) -> MultiHeadAttention:
    """The same layer with scaled=False and W_q, b_q divided by √Dh: the same function."""
    twin = MultiHeadAttention(attn.d_model, attn.n_heads, causal=attn.causal, attn_impl=attn.attn_impl, scaled=False)
    twin = twin.to(attn.qkv_proj.weight.dtype)
    twin.load_state_dict(attn.state_dict())
    with torch.no_grad():
        d = attn.d_model
        twin.qkv_proj.weight[:d] *= attn.head_dim**-0.5
        twin.qkv_proj.bias[:d] *= attn.head_dim**-0.5
    return twin


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
@pytest.mark.parametrize("causal", [False, True])
# t=8: the textbook path; t=160, 64 wide: the causal blocks and the bidirectional tiles (scores > 2 MiB).
@pytest.mark.parametrize(("batch", "t", "d_model", "n_heads"), [(2, 8, 16, 2), (12, 160, 64, 1)])
def test_unscaled_attention_is_scaled_attention_with_queries_times_sqrt_dh(
    batch, t, d_model, n_heads, causal, attn_impl
):
    scaled = MultiHeadAttention(d_model, n_heads, causal=causal, attn_impl=attn_impl).double()
    unscaled = unscaled_twin(scaled)
    assert unscaled.scale == 1.0 and "unscaled" in repr(unscaled)
    x = torch.randn(batch, t, d_model, dtype=torch.float64) * 3
    mask = random_padding_mask(batch, t)
    # Unscaled with W_q/√Dh is scaled with W_q: equal values; gradients equal up to the known factor on W_q.
    assert_close(unscaled(x, mask), scaled(x, mask))
    unscaled(x, mask).square().sum().backward()
    scaled(x, mask).square().sum().backward()
    d = d_model
    assert_close(unscaled.qkv_proj.weight.grad[d:], scaled.qkv_proj.weight.grad[d:])
    assert_close(unscaled.qkv_proj.weight.grad[:d] * scaled.head_dim**-0.5, scaled.qkv_proj.weight.grad[:d])
    assert_close(unscaled.out_proj.weight.grad, scaled.out_proj.weight.grad)


def test_unscaled_weights_are_pytorch_softmax_of_raw_scores():
    attn = MultiHeadAttention(32, 1, scaled=False).double()
    x = torch.randn(2, 5, 32, dtype=torch.float64)
    q, k, v = attn.qkv_proj(x).chunk(3, dim=-1)
    _, weights = attn(x, return_weights=True)
    assert_close(weights[:, 0], torch.softmax(q @ k.transpose(1, 2), dim=-1))
    expected = F.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert_close(attn(x), attn.out_proj(expected))


@pytest.mark.parametrize(
    ("norm", "residual", "formula"),
    [
        ("none", True, lambda x, a, f, n1, n2: (h := x + a(x)) + f(h)),
        ("pre", False, lambda x, a, f, n1, n2: f(n2(a(n1(x))))),
        ("post", False, lambda x, a, f, n1, n2: n2(f(n1(a(x))))),
        ("none", False, lambda x, a, f, n1, n2: f(a(x))),
    ],
)
def test_ablated_block_is_its_formula(norm, residual, formula):
    block = TransformerBlock(16, 2, norm=norm, residual=residual).double()
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(3, 6, 16, dtype=torch.float64, requires_grad=True)
    mask = random_padding_mask(3, 6)
    out = block(x, mask)
    expected = formula(x, lambda y: block.attn(y, mask), block.ff, block.norm1, block.norm2)
    assert_close(out, expected)
    (grad,) = torch.autograd.grad(out.square().sum(), x)
    (expected_grad,) = torch.autograd.grad(expected.square().sum(), x)
    assert_close(grad, expected_grad)
    if norm == "none":
        assert not any("norm" in name for name, _ in block.named_parameters())


def test_norm_none_stack_has_no_norm_anywhere():
    config = TransformerConfig(vocab_size=20, d_model=16, n_heads=2, norm="none")
    lm = TransformerLM(config)
    assert lm.transformer.final_norm is None
    assert not any("norm" in name for name, _ in lm.named_parameters())


def test_sequence_norm_is_layer_norm_over_time_and_width():
    config = TransformerConfig(vocab_size=30, d_model=8, n_heads=1, max_len=5, norm_over="sequence", eps=1e-8)
    encoder = TransformerEncoder(config).double()
    block = encoder.blocks[0]
    assert block.norm1.normalized_shape == (5, 8) and encoder.final_norm.normalized_shape == (5, 8)
    reference = nn.LayerNorm((5, 8), eps=1e-8).double()
    with torch.no_grad():
        block.norm1.weight.normal_(1, 0.2), block.norm1.bias.normal_(0, 0.2)
        reference.weight.copy_(block.norm1.weight), reference.bias.copy_(block.norm1.bias)
    x = torch.randn(3, 5, 8, dtype=torch.float64) * 4 + 2
    assert_close(block.norm1(x), reference(x))
    with pytest.raises(ValueError, match=r"\(5, 8\)"):
        encoder(torch.randint(0, 30, (2, 4)))  # a sequence shorter than max_len


@pytest.mark.parametrize(
    ("field", "value"), [("residual", False), ("scaled", False), ("norm_over", "sequence"), ("norm", "none")]
)
def test_hub_exports_refuse_ablations(field, value):
    gpt2 = {"norm": "pre", **{field: value}}
    bert = {"norm": "post", "embedding_norm": True, **{field: value}}
    with pytest.raises(InputError, match=field):
        check_gpt2(TransformerConfig(vocab_size=20, d_model=16, n_heads=2, **gpt2))
    with pytest.raises(InputError, match=field):
        check_bert(TransformerConfig(vocab_size=20, d_model=16, n_heads=2, **bert))


@pytest.mark.parametrize(("field", "value"), [("norm", "sandwich"), ("norm_over", "batch")])
def test_bad_ablation_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"transformer {field}"):
        TransformerConfig(**{field: value})
