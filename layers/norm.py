"""Layer normalisation from its definition.

Shape legend: B batch, T time, D model width; K the number of normalised elements per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable


class _Normalize(torch.autograd.Function):
    """y = x̂ · γ + β with x̂ = (x − mean) / √(var + eps) over each group of K elements, and its gradient
    written out by hand. x is (…, normalized_shape), taken as (N, K): one row per group.

    Left to autograd, the five steps of the forward pass each keep their input and each get a backward node:
    on a CPU the norm then costs several times torch's fused kernel. The gradient in closed form needs only
    x̂ and 1/√(var + eps): with g = ∂L/∂y · γ (the gradient reaching x̂) and means taken over each row,
        ∂L/∂x = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + eps)
        ∂L/∂γ = Σ ∂L/∂y · x̂,   ∂L/∂β = Σ ∂L/∂y   (sums over the rows)
    The first line is the chain rule through the mean and the variance, which both depend on every element
    of the group. The row means of g and g · x̂ are matrix-vector products with γ, mean(g) = (∂L/∂y) γ / K
    and mean(g · x̂) = (∂L/∂y · x̂) γ / K, so g itself is never stored, and ∂L/∂y · x̂ serves ∂L/∂γ too: at
    T = 256 the norm's passes over memory are most of its cost.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None, eps: float):
        # The (…, K) ↔ (N, K) reshapes live here, not around the call: outside they would each be a
        # backward node of their own, and at nanoGPT's sizes the norm's cost is mostly such per-call overhead.
        k = weight.numel()
        rows = x.reshape(-1, k)
        weight_row = weight.view(k)
        normalized = rows - rows.mean(dim=1, keepdim=True)  # x − mean; becomes x̂ in place below
        # The biased variance (divided by K) from the norm of the centred row: one pass, no squared copy.
        # (torch.var_mean would be one call, but on a CPU it is a Welford loop, 40× slower at 768 × 128 here.)
        norm = torch.linalg.vector_norm(normalized, dim=1, keepdim=True)
        rstd = torch.addcmul(norm.new_full((), eps), norm, norm, value=1.0 / k).rsqrt_()  # 1/√(var + eps), (N, 1)
        normalized.mul_(rstd)
        ctx.save_for_backward(normalized, weight, rstd)
        out = normalized * weight_row if bias is None else torch.addcmul(bias.view(k), normalized, weight_row)
        return out.view(x.shape)  # β + x̂ · γ

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor):
        normalized, weight, rstd = ctx.saved_tensors
        k = weight.numel()
        weight_row, grad_rows = weight.view(k), grad.reshape(-1, k)
        grad_bias = grad_rows.sum(dim=0).view_as(weight) if ctx.needs_input_grad[2] else None
        grad_x_hat = grad_rows * normalized  # ∂L/∂y · x̂
        grad_weight = grad_x_hat.sum(dim=0).view_as(weight) if ctx.needs_input_grad[1] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            # Minus the two row means of the docstring, (N, 1): (∂L/∂y) γ / K and (∂L/∂y · x̂) γ / K.
            minus_g_mean = torch.mv(grad_rows, weight_row).mul_(-1.0 / k).unsqueeze_(1)
            minus_g_x_mean = torch.mv(grad_x_hat, weight_row).mul_(-1.0 / k).unsqueeze_(1)
            # g − mean(g) in one pass (g = ∂L/∂y · γ is never stored), then the x̂ term and 1/√(var + eps).
            grad_x = torch.addcmul(minus_g_mean, grad_rows, weight_row).addcmul_(normalized, minus_g_x_mean)
            grad_x = grad_x.mul_(rstd).view(grad.shape)
        return grad_x, grad_weight, grad_bias, None


class LayerNorm(nn.Module):
    """y = (x − mean) / √(var + eps) · γ + β over the trailing `normalized_shape` dimensions.

    The variance is the biased one (divided by K, not K − 1), as in nn.LayerNorm. γ (`weight`) and β
    (`bias`) have shape `normalized_shape`; `bias=False` leaves β out (nn.LayerNorm(bias=False), nanoGPT).
    - `LayerNorm(d)`: the usual per-token norm of a (B, T, D) tensor.
    - `LayerNorm((T, d), eps=1e-8)`: one statistic per whole sample (K = T·d elements, γ and β of T·d).
    Half-precision inputs are normalised in float32 and returned in their own dtype. The backward pass is
    the closed-form gradient of `_Normalize` (not differentiable twice).
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, bias: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if not shape or any(n <= 0 for n in shape):
            raise ValueError(f"normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape = shape
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        ### HINT: return (x − mean)/√(var + eps)·γ + β over the normalized dims, biased var, x's shape
        n = len(self.normalized_shape)
        if tuple(x.shape[-n:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm over {self.normalized_shape} got input of shape {tuple(x.shape)}: "
                f"its last {n} dimension(s) must be {self.normalized_shape}"
            )
        # Statistics of bf16/fp16 activations lose digits; compute them in float32.
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        return _Normalize.apply(xf, self.weight, self.bias, self.eps).to(x.dtype)
        ### END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
