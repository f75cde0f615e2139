"""LayerNorm against nn.LayerNorm, per token and per whole sample."""

import pytest
import torch
from torch import nn

from layers.norm import LayerNorm
from tests.utils import assert_close, assert_same_backward, copy_parameters


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("input_shape", "normalized_shape", "eps"),
    [((4, 7, 16), 16, 1e-5), ((3, 5), 5, 1e-5), ((4, 7, 16), (7, 16), 1e-8), ((2, 3, 4, 6), (4, 6), 1e-8)],
)
def test_layer_norm_matches_nn_layer_norm(input_shape, normalized_shape, eps, dtype):
    ours = LayerNorm(normalized_shape, eps).to(dtype)
    reference = nn.LayerNorm(normalized_shape, eps).to(dtype)
    with torch.no_grad():  # random affine parameters, so a mix-up of weight and bias would show
        reference.weight.normal_()
        reference.bias.normal_()
    copy_parameters(ours, reference, {})
    x = (torch.randn(input_shape, dtype=dtype) * 3 + 1).requires_grad_()
    out, expected = ours(x), reference(x)
    assert_same_backward(out, expected, x, ours, reference, {})


def test_whole_sample_norm_has_one_gamma_and_beta_per_element():
    norm = LayerNorm((6, 10), eps=1e-8)
    assert norm.weight.shape == norm.bias.shape == (6, 10)
    out = norm(torch.randn(3, 6, 10) * 5 + 2)
    assert_close(out.mean(dim=(1, 2)), torch.zeros(3), atol=1e-5, rtol=0)
    assert_close(out.var(dim=(1, 2), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


def test_half_precision_input_is_normalised_in_float32_and_returned_in_its_dtype():
    norm = LayerNorm(64)
    x = (torch.randn(2, 3, 64) * 100 + 1000).bfloat16()  # large offset: bf16 statistics would be poor
    out = norm(x)
    assert out.dtype == torch.bfloat16
    assert_close(out.float(), nn.LayerNorm(64)(x.float()), atol=2e-2, rtol=2e-2)


def test_never_calls_torch_layer_norm(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("LayerNorm must be built from primitives")

    monkeypatch.setattr(torch, "layer_norm", forbidden)
    monkeypatch.setattr(torch.nn.functional, "layer_norm", forbidden)
    LayerNorm(8)(torch.randn(2, 8))


def test_bad_shapes_get_clear_errors():
    with pytest.raises(ValueError, match="last 1 dimension"):
        LayerNorm(8)(torch.randn(2, 7))
    with pytest.raises(ValueError, match=r"\(5, 8\)"):
        LayerNorm((5, 8))(torch.randn(2, 6, 8))
    with pytest.raises(ValueError, match="positive"):
        LayerNorm(0)


@pytest.mark.parametrize(("input_shape", "normalized_shape"), [((2, 3, 4), 4), ((2, 3, 4), (3, 4))])
def test_hand_written_gradient_passes_gradcheck(input_shape, normalized_shape):
    norm = LayerNorm(normalized_shape).double()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(input_shape, dtype=torch.float64, requires_grad=True)

    def with_parameters(x, weight, bias):  # gradcheck checks the gradients of its inputs: make γ and β inputs
        return torch.func.functional_call(norm, {"weight": weight, "bias": bias}, (x,))

    assert torch.autograd.gradcheck(with_parameters, (x, norm.weight, norm.bias))


def test_bias_free_norm_matches_nn_layer_norm_without_bias():
    ours = LayerNorm(16, bias=False).double()
    reference = nn.LayerNorm(16, bias=False).double()
    assert ours.bias is None and [name for name, _ in ours.named_parameters()] == ["weight"]
    with torch.no_grad():
        reference.weight.normal_()
    copy_parameters(ours, reference, {})
    x = (torch.randn(4, 7, 16, dtype=torch.float64) * 3 + 1).requires_grad_()
    assert_same_backward(ours(x), reference(x), x, ours, reference, {})


def test_non_contiguous_input_and_gradient_match_nn_layer_norm():
    # The Function reshapes to rows itself: a transposed input, and a gradient arriving through a transpose
    # downstream, must give the same values and gradients as torch's kernel.
    ours, reference = LayerNorm((5, 16)).double(), nn.LayerNorm((5, 16)).double()
    with torch.no_grad():
        reference.weight.normal_()
        reference.bias.normal_()
    copy_parameters(ours, reference, {})
    base = torch.randn(3, 4, 5, 16, dtype=torch.float64) * 3 + 1
    x = base.transpose(0, 1).requires_grad_()  # (4, 3, 5, 16), not contiguous
    assert not x.is_contiguous()
    # .contiguous() after the transpose: the gradient reaching the norm is then the transpose of a dense one.
    out, expected = ours(x).transpose(1, 2).contiguous(), reference(x).transpose(1, 2).contiguous()
    assert out.shape == (4, 5, 3, 16)
    assert_same_backward(out, expected, x, ours, reference, {})
