"""Layer normalisation from its definition.

Shape legend: B batch, T time, D model width; K the number of normalised elements per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from layers.errors import InputError


class LayerNorm(nn.Module):
    """y = (x − mean) / √(var + eps) · γ + β over the trailing `normalized_shape` dimensions.

    The variance is the biased one (divided by K, not K − 1), as in nn.LayerNorm. γ (`weight`) and β
    (`bias`) have shape `normalized_shape`.
    - `LayerNorm(d)`: the usual per-token norm of a (B, T, D) tensor.
    - `LayerNorm((T, d), eps=1e-8)`: one statistic per whole sample (K = T·d elements, γ and β of T·d).
    Half-precision inputs are normalised in float32 and returned in their own dtype.
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
        mean = xf.mean(dim=dims, keepdim=True)
        centred = xf - mean
        var = centred.square().mean(dim=dims, keepdim=True)  # biased: divided by K
        y = centred * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
