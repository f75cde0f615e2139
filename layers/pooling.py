"""Global pooling of a sequence into one vector, ignoring padding.

Shape legend: B batch, T time, D width. `mask` (B, T) bool, True = real token.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

PoolKind = Literal["mean", "max", "first"]


def masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over the real tokens: (B, T, D) → (B, D); an all-padding row gives zeros."""
    if mask is None:
        return x.mean(dim=1)
    weights = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(x: Tensor, mask: Tensor | None) -> Tensor:
    """Feature-wise maximum over the real tokens: (B, T, D) → (B, D); an all-padding row gives zeros."""
    if mask is None:
        return x.amax(dim=1)
    filled = x.masked_fill(~mask.unsqueeze(-1), torch.finfo(x.dtype).min)  # (B, T, D)
    return filled.amax(dim=1) * mask.any(dim=1, keepdim=True)


def select_first(x: Tensor, mask: Tensor | None) -> Tensor:
    """The first token's vector (a [CLS]-style summary): (B, T, D) → (B, D)."""
    return x[:, 0]


POOLS = {"mean": masked_mean, "max": masked_max, "first": select_first}


class Pool(nn.Module):
    """One of mean, max or first (select) pooling over time."""

    def __init__(self, kind: PoolKind = "mean") -> None:
        super().__init__()
        if kind not in POOLS:
            raise ValueError(f"unknown pool {kind!r}; choose one of {sorted(POOLS)}")
        self.kind = kind

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return POOLS[self.kind](x, mask)

    def extra_repr(self) -> str:
        return self.kind
