"""Keys and values of the positions already seen, so generation computes each new token in O(T).

Shape legend: B batch, H heads, T cached positions, Dh head width.
"""

from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    """One attention layer's cache: keys and values (B, H, T, Dh) of every position processed so far.

    Each forward call appends its own keys and values and attends over the whole cache, so the queries
    of a new token see every earlier position without recomputing it.
    """

    def __init__(self) -> None:
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.shape[-2]

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Add (B, H, T_new, Dh) keys and values; return all of them, (B, H, T + T_new, Dh)."""
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat([self.keys, keys], dim=-2)  # (B, H, T + T_new, Dh)
            self.values = torch.cat([self.values, values], dim=-2)
        return self.keys, self.values
