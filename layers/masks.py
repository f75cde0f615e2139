"""Which keys each query may see, and the additive biases that hide the others from a softmax.

Shape legend: B batch, Tq queries, Tk keys. The mask contract is the project's (layers/attention.py): a
padding mask is bool, True on real tokens, (B, Tk) per key or already shaped like the scores; causal
masking is a flag.
"""

from __future__ import annotations

import torch
from torch import Tensor


def visible_keys(mask: Tensor | None, causal: bool, q: Tensor, k: Tensor) -> Tensor | None:
    """Which keys each query may attend to: a bool tensor broadcastable to the scores (..., Tq, Tk).

    Combines the padding mask (True = real key) with the causal rule. With fewer queries than keys (the
    last Tq positions of a sequence whose earlier keys come from a cache) query i sits at absolute
    position Tk - Tq + i and sees keys 0 … Tk - Tq + i. Returns None when nothing is masked.
    """
    ### BEGIN SOLUTION
    ### HINT: return bool (..., Tq, Tk): padding mask & causal (query i sees keys ≤ Tk−Tq+i); None if neither
    tq, tk = q.shape[-2], k.shape[-2]
    allowed = None
    if mask is not None:
        allowed = broadcast_padding_mask(mask, q.shape, tk)
    if causal:
        tril = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(diagonal=tk - tq)  # (Tq, Tk)
        allowed = tril if allowed is None else allowed & tril
    return allowed
    ### END SOLUTION


def broadcast_padding_mask(mask: Tensor, q_shape: torch.Size, tk: int) -> Tensor:
    """The mask checked against queries of shape `q_shape` (..., Tq, Dh) and Tk keys: a (B, Tk) mask as
    (B, 1, ..., 1, Tk); one shaped like the scores as it is."""
    rank = len(q_shape)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"attention mask must be a bool tensor (True = real token), got dtype {mask.dtype}; "
            "convert with mask.bool() or (mask != 0)"
        )
    if mask.dim() == 2:  # (B, Tk): one flag per key
        if mask.shape != (q_shape[0], tk):
            raise ValueError(
                f"padding mask of shape {tuple(mask.shape)} does not match (batch, keys) = ({q_shape[0]}, {tk})"
            )
        return mask.view(mask.shape[0], *([1] * (rank - 2)), tk)  # (B, 1, ..., 1, Tk)
    if mask.dim() != rank or mask.shape[-1] != tk or mask.shape[-2] not in (1, q_shape[-2]):
        raise ValueError(
            f"attention mask of shape {tuple(mask.shape)} fits neither (batch, keys) nor scores of shape "
            f"(..., {q_shape[-2]}, {tk}) with {rank} dims"
        )
    return mask


def masking_bias(allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """0 where a key is visible, a huge negative number where it is not; added to the scores.

    Half the dtype's most negative value: its exp underflows to exactly 0 after softmax, yet adding it to
    a negative score cannot overflow to -inf (fp16's range is ±65504), so an all-masked row stays finite
    in every dtype instead of turning into NaN.
    """
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(
        ~allowed, torch.finfo(dtype).min / 2
    )


def causal_bias(tq: int, tk: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """masking_bias of the causal rule alone, (Tq, Tk): query i (absolute position Tk − Tq + i) sees keys
    0 … Tk − Tq + i; the huge negative number lies above that diagonal."""
    bias = torch.full((tq, tk), torch.finfo(dtype).min / 2, dtype=dtype, device=device)
    return bias.triu_(diagonal=tk - tq + 1)


def some_query_sees_no_key(allowed: Tensor) -> bool:
    # Checking first lets the common case (every query sees a key) skip a full pass over the weights.
    # A compiled graph cannot branch on data, so there we always take the (correct) slow path.
    if torch.compiler.is_compiling():
        return True
    return not bool(allowed.any(-1).all())
