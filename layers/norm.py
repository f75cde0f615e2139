"""Layer normalisation from its definition.

Shape legend: B batch, T time, D model width; K the number of normalised elements per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from layers.errors import InputError


class _Normalize(torch.autograd.Function):
    """y = x̂ · γ + β with x̂ = (x − mean) / √(var + eps) over `dims`, and its gradient written out by hand.

    Left to autograd, the five steps of the forward pass each keep their input and each get a backward node:
    on a CPU the norm then costs several times torch's fused kernel. The gradient in closed form needs only
    x̂ and 1/√(var + eps): with g = ∂L/∂y · γ (the gradient reaching x̂) and means taken over `dims`,
        ∂L/∂x = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps)
        ∂L/∂γ = Σ ∂L/∂y · x̂,   ∂L/∂β = Σ ∂L/∂y   (sums over the leading, batch dimensions)
    The first line is the chain rule through the mean and the variance, which both depend on every element
    of the group.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor, dims: tuple[int, ...], eps: float):
        mean = x.mean(dim=dims, keepdim=True)
        centred = x - mean
        var = centred.square().mean(dim=dims, keepdim=True)  # biased: divided by K
        rstd = torch.rsqrt(var.add_(eps))
        normalized = centred.mul_(rstd)  # x̂, in the buffer of `centred`
        ctx.save_for_backward(normalized, weight, rstd)
        ctx.dims = dims
        return torch.addcmul(bias, normalized, weight)  # β + x̂ · γ

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor):
        normalized, weight, rstd = ctx.saved_tensors
        dims = ctx.dims
        batch_dims = tuple(range(grad.dim() - len(dims)))
        grad_x = None
        if ctx.needs_input_grad[0]:
            g = grad * weight  # ∂L/∂x̂
            g_mean = g.mean(dim=dims, keepdim=True)
            g_x_mean = (g * normalized).mean(dim=dims, keepdim=True)
            grad_x = g.sub_(g_mean).addcmul_(normalized, g_x_mean, value=-1).mul_(rstd)
        grad_weight = (grad * normalized).sum(dim=batch_dims) if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(dim=batch_dims) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None


class LayerNorm(nn.Module):
    """y = (x − mean) / √(var + eps) · γ + β over the trailing `normalized_shape` dimensions.

    The variance is the biased one (divided by K, not K − 1), as in nn.LayerNorm. γ (`weight`) and β
    (`bias`) have shape `normalized_shape`.
    - `LayerNorm(d)`: the usual per-token norm of a (B, T, D) tensor.
    - `LayerNorm((T, d), eps=1e-8)`: one statistic per whole sample (K = T·d elements, γ and β of T·d).
    Half-precision inputs are normalised in float32 and returned in their own dtype. The backward pass is
    the closed-form gradient of `_Normalize` (not differentiable twice).
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(n <= 0 for n in shape):
            raise InputError(f"normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape = shape
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if tuple(x.shape[-n:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm over {self.normalized_shape} got input of shape {tuple(x.shape)}: "
                f"its last {n} dimension(s) must be {self.normalized_shape}"
            )
        dims = tuple(range(-n, 0))
        # Statistics of bf16/fp16 activations lose digits; compute them in float32.
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return _Normalize.apply(xf, self.weight, self.bias, dims, self.eps).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
