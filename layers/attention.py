"""Attention, written from tensor primitives.

Shape legend: B batch, T time (Tq queries, Tk keys), D model width, H heads, Dh head width (D = H·Dh).

Mask contract (the whole project's): a padding mask is a bool tensor, True where the token is real and
False on padding. It is given per key as (B, Tk) and broadcast to (B, 1, ..., 1, Tk), so padding keys are
never attended to; a mask already shaped like the scores, (..., Tq, Tk) or broadcastable to it, is used as
it is. Causal masking is a flag, never a tensor the caller builds. A query that can see no key at all (an
all-padding sequence) gets zero weights and a zero output, never NaN.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layers.blocked_attention import blocked_attention, blocked_attention_pays
from layers.causal_attention import blocks_pay, causal_attention
from layers.kv_cache import KVCache
from layers.masks import causal_bias, masking_bias, some_query_sees_no_key, visible_keys

AttentionImpl = Literal["manual", "sdpa"]


def attention_weights(
    q: Tensor, k: Tensor, mask: Tensor | None = None, causal: bool = False, scale: float | None = None
) -> Tensor:
    """softmax(Q Kᵀ · scale) over the visible keys: (..., Tq, Dh) × (..., Tk, Dh) → (..., Tq, Tk).

    `scale` defaults to 1/√Dh. Masked keys get weight exactly 0; a query with no visible key gets a row of
    zeros.
    """
    ### BEGIN SOLUTION
    ### HINT: return softmax(q kᵀ·scale) (..., Tq, Tk), masked keys weight 0, a row with no visible key all 0
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    # Scaling q (… Tq × Dh numbers) is cheaper than scaling the scores (… Tq × Tk numbers).
    scores = torch.matmul(q * scale, k.transpose(-2, -1))  # (..., Tq, Tk)
    tq, tk = q.shape[-2], k.shape[-2]
    if mask is None and not causal:
        return scores.softmax(dim=-1)
    # At T=256 the scores of a batch are tens of MB and each extra copy costs a trip through the allocator,
    # so the mask is added in place to the fresh matmul output (matmul's backward does not need it), and
    # outside autograd: the gradient it would mask is already zero, since a masked key's weight is exactly
    # 0 and softmax's gradient is proportional to the weight. Adding a bias is several times faster than
    # masked_fill_ with a broadcast mask.
    if mask is None and tq <= tk:
        # Causal alone: the bias in one step. Every query sees at least key 0, so no row is empty.
        with torch.no_grad():
            scores.add_(causal_bias(tq, tk, scores.dtype, scores.device))
        return scores.softmax(dim=-1)
    allowed = visible_keys(mask, causal, q, k)
    with torch.no_grad():
        scores.add_(masking_bias(allowed, scores.dtype))
    weights = scores.softmax(dim=-1)
    if some_query_sees_no_key(allowed):
        weights = weights * allowed.any(dim=-1, keepdim=True)  # such rows were uniform; make them zero
    return weights
    ### END SOLUTION


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    causal: bool = False,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """softmax(Q Kᵀ / √d_k) V over any leading batch dims.

    Args:
        q: (..., Tq, Dk) queries; k: (..., Tk, Dk) keys; v: (..., Tk, Dv) values.
        mask: bool, True = real token: (B, Tk) per key, or broadcastable to (..., Tq, Tk).
        dropout_p: dropout on the weights (pass 0.0 in evaluation, as with F.scaled_dot_product_attention).
        causal: query i sees keys ≤ i (aligned to the last query when Tq < Tk).
        scale: defaults to 1/√Dk.

    Returns:
        values (..., Tq, Dv) and the attention weights (..., Tq, Tk) before dropout.
    """
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError(f"q, k, v must share a rank of at least 2 (..., T, D); got {q.dim()}, {k.dim()}, {v.dim()}")
    ### BEGIN SOLUTION
    ### HINT: return (weights @ v (..., Tq, Dv), weights (..., Tq, Tk)), dropout_p on the weights
    weights = attention_weights(q, k, mask, causal, scale)
    dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
    return torch.matmul(dropped, v), weights  # (..., Tq, Dv)
    ### END SOLUTION


def check_input(x: Tensor, d_model: int | None = None) -> None:
    """A clear error for the two most common misuses: a wrong rank or a wrong feature width."""
    if x.dim() != 3:
        width = "D" if d_model is None else d_model
        raise ValueError(f"expected input of shape (B, T, D) = (batch, time, {width}), got {tuple(x.shape)}")
    if d_model is not None and x.shape[-1] != d_model:
        raise ValueError(f"expected last dimension {d_model} (d_model), got input of shape {tuple(x.shape)}")


class SimpleSelfAttention(nn.Module):
    """Parameter-free self-attention: softmax(X Xᵀ) X, each token a weighted mean of the sequence.

    With `scaled=True` the scores are divided by √D. (B, T, D) → (B, T, D); `mask` (B, T), True = real.
    """

    def __init__(self, scaled: bool = False) -> None:
        super().__init__()
        self.scaled = scaled

    def forward(
        self, x: Tensor, mask: Tensor | None = None, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        check_input(x)
        ### BEGIN SOLUTION
        ### HINT: return softmax(x xᵀ·s) x (B, T, D), s = 1/√D if scaled else 1; and (B, T, T) weights if asked
        scale = x.shape[-1] ** -0.5 if self.scaled else 1.0
        out, weights = scaled_dot_product_attention(x, x, x, mask, scale=scale)  # (B, T, D), (B, T, T)
        return (out, weights) if return_weights else out
        ### END SOLUTION


class SelfAttention(nn.Module):
    """One-head self-attention with query, key and value projections W_q, W_k, W_v (D × D), scale 1/√D.

    (B, T, D) → (B, T, D); `mask` (B, T), True = real token.
    """

    def __init__(self, d_model: int, bias: bool = False) -> None:
        super().__init__()
        self.d_model = d_model
        self.query = nn.Linear(d_model, d_model, bias=bias)
        self.key = nn.Linear(d_model, d_model, bias=bias)
        self.value = nn.Linear(d_model, d_model, bias=bias)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        check_input(x, self.d_model)
        ### BEGIN SOLUTION
        ### HINT: return softmax(Q Kᵀ/√D) V (B, T, D), Q K V = query/key/value(x); (B, T, T) weights if asked
        out, weights = scaled_dot_product_attention(self.query(x), self.key(x), self.value(x), mask)
        return (out, weights) if return_weights else out
        ### END SOLUTION


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention: H heads of width Dh = D/H, each softmax(Q Kᵀ/√Dh) V, then W_o.

    Parameters: W_q, W_k, W_v and W_o, each (H·Dh)×(H·Dh), and their biases: 4·(H·Dh)² + 4·H·Dh in all
    (4·(H·Dh)² with bias=False). W_q, W_k and W_v are stored stacked in `qkv_proj` (3D × D, the layout of
    nn.MultiheadAttention's in_proj_weight and GPT-2's c_attn) so one matmul projects all three.

    attn_impl: "manual" runs the hand-built maths of this file (for causal self-attention over more than
    two blocks of 64 queries, the block-by-block form of layers/causal_attention.py, which skips the masked
    triangle; for bidirectional attention whose score matrices exceed 2 MiB, the tile-by-tile form of
    layers/blocked_attention.py, which keeps no (T, T) matrix for the backward); "sdpa" runs the same
    parameters through torch.nn.functional.scaled_dot_product_attention (fused kernels, same results).
    Attention weights are only ever computed by apply_attention, so `return_weights=True` always takes it.

    scaled=False leaves the scores unscaled, softmax(Q Kᵀ) V, on every path: the ablation of the 1/√Dh
    factor (docs/ablations.md), whose scores then grow with Dh and saturate the softmax.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        causal: bool = False,
        attn_impl: AttentionImpl = "manual",
        scaled: bool = True,
    ) -> None:
        super().__init__()
        if n_heads <= 0 or d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if attn_impl not in ("manual", "sdpa"):
            raise ValueError(f"attn_impl must be 'manual' or 'sdpa', got {attn_impl!r}")
        self.d_model, self.n_heads, self.head_dim = d_model, n_heads, d_model // n_heads
        self.dropout, self.causal, self.attn_impl = dropout, causal, attn_impl
        self.scaled = scaled
        self.scale = self.head_dim**-0.5 if scaled else 1.0
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, T, H·d) → (B, H, T, d) for whatever per-head width d the input carries (d = Dh for this
        layer's own projections; any multiple of H works, e.g. values of another width)."""
        ### BEGIN SOLUTION
        ### HINT: return (B, T, H·d) → (B, H, T, d); ValueError if the width is not a multiple of self.n_heads
        b, t, width = x.shape
        if width % self.n_heads:
            raise ValueError(f"cannot split a width of {width} into {self.n_heads} heads of equal width")
        return x.view(b, t, self.n_heads, width // self.n_heads).transpose(1, 2)  # (B, H, T, d)
        ### END SOLUTION

    def merge_heads(self, x: Tensor) -> Tensor:
        """(B, H, T, d) → (B, T, H·d), the exact inverse of split_heads, for any per-head width d."""
        ### BEGIN SOLUTION
        ### HINT: return (B, H, T, d) → (B, T, H·d), the inverse of split_heads
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)  # (B, T, H·d)
        ### END SOLUTION

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of x, each (B, H, T, Dh)."""
        check_input(x, self.d_model)
        q, k, v = self.qkv_proj(x).chunk(3, dim=-1)  # 3 × (B, T, D)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def get_attention_weights(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The weights each head puts on each key: (B, T, D) → (B, H, T, T), rows summing to 1."""
        q, k, _ = self.project(x)
        return attention_weights(q, k, mask, self.causal, self.scale)

    def apply_attention(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Hand-built attention of split heads: (B, H, Tq, Dh) queries → values (B, H, Tq, Dh), weights."""
        ### BEGIN SOLUTION
        ### HINT: return (values (B, H, Tq, Dh), weights (B, H, Tq, Tk)); causal, dropout in training
        dropout_p = self.dropout if self.training else 0.0
        return scaled_dot_product_attention(q, k, v, mask, dropout_p, self.causal, self.scale)
        ### END SOLUTION

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        cache: KVCache | None = None,
        return_weights: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """(B, T, D) → (B, T, D).

        mask: (B, Tk) bool, True = real token, over all keys (cached ones included).
        cache: keys and values of earlier positions; this call's are appended to it (generation).
        return_weights: also return the (B, H, T, Tk) attention weights.
        """
        q, k, v = self.project(x)  # (B, H, T, Dh) each
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H, Tk, Dh), Tk = cached + T
        if self.attn_impl == "sdpa" and not return_weights:
            values, weights = self._fused_attention(q, k, v, mask), None
        elif self.causal and not return_weights and blocks_pay(q, k, mask):
            # The same maths as apply_attention, skipping the masked upper triangle block by block (a
            # training sequence of the causal LM; layers/causal_attention.py).
            dropout_p = self.dropout if self.training else 0.0
            values, weights = causal_attention(q, k, v, mask, dropout_p, self.scale), None
        elif not self.causal and not return_weights and blocked_attention_pays(q, k, mask):
            # The same maths as apply_attention a block of queries at a time, holding no (T, T) matrix per
            # head (layers/blocked_attention.py).
            dropout_p = self.dropout if self.training else 0.0
            values, weights = blocked_attention(q, k, v, mask, dropout_p, self.scale), None
        else:
            values, weights = self.apply_attention(q, k, v, mask)  # (B, H, T, Dh), (B, H, T, Tk)
        out = self.out_proj(self.merge_heads(values))  # (B, T, D)
        return (out, weights) if return_weights else out

    def _fused_attention(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        dropout_p = self.dropout if self.training else 0.0
        if mask is None and (not self.causal or q.shape[-2] == k.shape[-2]):
            # is_causal aligns the mask top-left, which is only right when Tq == Tk.
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=self.causal, scale=self.scale)
        allowed = visible_keys(mask, self.causal, q, k)  # (B, 1, Tq|1, Tk)
        values = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p, scale=self.scale)
        # Fused kernels disagree on all-masked rows (NaN or zeros); the contract says zeros.
        return values * allowed.any(dim=-1, keepdim=True)  # (B, H, Tq, Dh)

    def extra_repr(self) -> str:
        unscaled = "" if self.scaled else ", unscaled"
        return f"d_model={self.d_model}, n_heads={self.n_heads}, causal={self.causal}, impl={self.attn_impl}{unscaled}"


__all__ = [
    "MultiHeadAttention",
    "SelfAttention",
    "SimpleSelfAttention",
    "attention_weights",
    "scaled_dot_product_attention",
    "visible_keys",
]
