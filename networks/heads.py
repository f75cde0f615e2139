"""Classification heads that read a transformer encoder's hidden states.

Shape legend: B batch, T time, D encoder width, Hd hidden width, Hg GRU hidden size, C classes.
`mask` (B, T) bool, True = real token. Each head is built as `Head(width, num_classes, ...)` by
networks/classifier.py's EncoderClassifier and maps (hidden (B, T, D), mask) → logits (B, C); padding never
changes a prediction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from lab_errors import InputError
from layers.pooling import POOLS, Pool, PoolKind


def check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}")


class PooledHead(nn.Module):
    """Pool over time ("first" = the [CLS] or first vector, "mean" over real tokens, "max") → dropout → linear.

    hidden_size: a tanh hidden layer of that width between the pooled vector and the output layer (the
    feed-forward classifier over averaged word vectors), `out` then being linear → tanh → linear.
    """

    def __init__(
        self,
        width: int,
        num_classes: int,
        pool: PoolKind = "mean",
        dropout: float = 0.1,
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        if num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        if pool not in POOLS:
            raise InputError(f"unknown pool {pool!r}; choose one of {sorted(POOLS)}")
        if hidden_size is not None and hidden_size <= 0:
            raise InputError(f"hidden_size must be positive (or null for no hidden layer), got {hidden_size}")
        self.pool = Pool(pool)
        self.drop = nn.Dropout(dropout)
        if hidden_size:
            self.out = nn.Sequential(nn.Linear(width, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_classes))
        else:
            self.out = nn.Linear(width, num_classes)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> Tensor:
        return self.out(self.drop(self.pool(hidden, mask)))  # (B, C)


def left_align(hidden: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Moves each row's real tokens to its front, in order: (B, T, D) → (B, T, D), and their counts (B,).
    Packing reads a row's first `length` steps, so this makes any padding layout (right, left, gaps) safe."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B, T): real positions first
    aligned = hidden.gather(1, order.unsqueeze(-1).expand_as(hidden))  # (B, T, D)
    return aligned, mask.sum(dim=1)


class BiGRUHead(nn.Module):
    """A multi-layer bidirectional GRU over the hidden states (dropout between its layers), the last layer's
    final forward and backward states concatenated → dropout → linear.

    The GRU reads packed sequences of the real tokens only, so its final states never saw padding. A row
    without real tokens reads its first position (packing needs a length of at least 1).
    """

    def __init__(
        self, width: int, num_classes: int, hidden_size: int = 128, num_layers: int = 2, dropout: float = 0.3
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        if hidden_size <= 0 or num_layers <= 0:
            raise InputError(f"hidden_size and num_layers must be positive, got {hidden_size} and {num_layers}")
        # nn.GRU applies its dropout between layers only (none after the last), the recipe's placement.
        between = dropout if num_layers > 1 else 0.0  # nn.GRU warns about dropout with one layer
        self.gru = nn.GRU(width, hidden_size, num_layers, batch_first=True, bidirectional=True, dropout=between)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, hidden: Tensor, mask: Tensor | None) -> Tensor:
        if mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
        aligned, lengths = left_align(hidden, mask.bool())
        packed = pack_padded_sequence(aligned, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, final = self.gru(packed)  # (2·layers, B, Hg): layer by layer, forward then backward
        last_layer = torch.cat([final[-2], final[-1]], dim=-1)  # (B, 2·Hg)
        return self.out(self.drop(last_layer))  # (B, C)
