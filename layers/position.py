"""Position information added along the time dimension.

Shape legend: B batch, T time, D model width.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

PositionKind = Literal["learned", "sinusoidal", "none"]


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) = cos(pos / 10000^(2i/D)): (max_len, D)."""
    ### BEGIN SOLUTION
    ### HINT: return the (max_len, D) float32 table: sin(pos/10000^(2i/D)) in even columns, cos in odd ones
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(D/2),)
    angle = position / torch.pow(10000.0, two_i / d_model)  # (max_len, ceil(D/2))
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # an odd D has one more sine than cosine column
    return table.float()
    ### END SOLUTION


class _AddedPositions(nn.Module):
    max_len: int

    def positions(self, length: int, offset: int, device: torch.device) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """(B, T, D) → (B, T, D) with the positions offset … offset+T−1 added (offset: cached tokens)."""
        length = x.shape[-2]
        if offset + length > self.max_len:
            raise ValueError(
                f"sequence of {offset + length} positions is longer than max_len={self.max_len} of the "
                "position embedding; truncate the input or build the model with a larger max_len"
            )
        return x + self.positions(length, offset, x.device).to(x.dtype)  # (T, D) broadcast over B


class SinusoidalPositionEncoding(_AddedPositions):
    """The fixed sine/cosine encoding of Vaswani et al. (2017); no parameters."""

    def __init__(self, d_model: int, max_len: int = 4096) -> None:
        super().__init__()
        self.max_len = max_len
        # Not saved in checkpoints: it is a function of (max_len, d_model).
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def positions(self, length: int, offset: int, device: torch.device) -> Tensor:
        return self.table[offset : offset + length]  # (T, D)


class LearnedPositionEmbedding(_AddedPositions):
    """One trained vector per position, as in BERT and GPT-2. Arguments in the order of every layer here:
    the width first, then how many positions."""

    def __init__(self, d_model: int, max_len: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def positions(self, length: int, offset: int, device: torch.device) -> Tensor:
        return self.embedding(torch.arange(offset, offset + length, device=device))  # (T, D)


def build_positions(kind: PositionKind, d_model: int, max_len: int) -> nn.Module | None:
    """The position module named by `kind`, or None for "none"."""
    if kind == "learned":
        return LearnedPositionEmbedding(d_model, max_len)
    if kind == "sinusoidal":
        return SinusoidalPositionEncoding(d_model, max_len)
    if kind == "none":
        return None
    raise ValueError(f"unknown position kind {kind!r}; choose 'learned', 'sinusoidal' or 'none'")
