"""Causal attention computed block by block, with its gradient written out: the hand-built path at length.

Shape legend: N the leading (batch · head) dimensions flattened, T time, Dh head width, P block of queries.

Causal attention masks the upper triangle of the (T, T) score matrix, so computing it is work thrown away.
Split the queries into blocks of P rows: block r (queries r0 … r1 − 1) sees keys 0 … r1 − 1 only, and only
its last P columns, the square on the diagonal, need the causal mask. Every visible score is still computed
exactly once, by the same softmax(Q Kᵀ · scale) V as layers.attention.scaled_dot_product_attention, so the
result is the same; what changes is the work, (n + 1) / 2n of the full matrix with n blocks: 62.5% at
T = 4P, 53% at T = 16P. Each block's tensors are also n times smaller than the full (T, T) ones.

Left to autograd, the block loop's slices and concatenations would each get a backward node. The gradient
in closed form needs only each block's weights W (saved), the output O, and G = ∂L/∂O:
    ∂L/∂V = Wᵀ G                       (summed over the blocks that see each key)
    ∂L/∂W = G Vᵀ
    ∂L/∂S = W ∘ (∂L/∂W − D),  D = rowsum(G ∘ O)    softmax's Jacobian: rowsum(W ∘ ∂L/∂W) = rowsum(G ∘ O)
    ∂L/∂Q = scale · ∂L/∂S K,   ∂L/∂K = scale · (∂L/∂S)ᵀ Q
With dropout (keep mask M at rate p, applied to the weights): O = (W ∘ M / (1 − p)) V, ∂L/∂V = (W ∘ M /
(1 − p))ᵀ G and ∂L/∂W = (G Vᵀ) ∘ M / (1 − p); D keeps its form, since rowsum(W ∘ ∂L/∂W) is still
rowsum(G ∘ O).

The mask contract is the project's (layers/attention.py): a padding mask (B, T), True = real key; a query
that can see no key gets zero weights and a zero output. The forward is not differentiable twice.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from layers.masks import broadcast_padding_mask, causal_bias, masking_bias

# Queries per block. Smaller blocks skip more of the triangle but run more, smaller matrix products; on a
# CPU, 64 was the fastest of 16, 32, 64 and 128 at T = 256 … 1024 (benchmarks/attention_scaling.py).
BLOCK = 64


def blocks_pay(q: Tensor, k: Tensor, mask: Tensor | None, block: int = BLOCK) -> bool:
    """Whether `causal_attention` applies and saves work: self-attention (as many queries as keys) over
    more than two blocks, no mask or one per key, and no autocast (whose casts the closed-form backward
    would not repeat). Two blocks skip a quarter of the scores, which on a CPU only pays back the loop's
    extra calls (a tie at T = 128, benchmarks/attention_scaling.py); three skip a third."""
    t = q.shape[-2]
    per_key = mask is None or mask.dim() == 2 or (mask.dim() == q.dim() and mask.shape[-2] == 1)
    return t == k.shape[-2] and t > 2 * block and per_key and not torch.is_autocast_enabled(q.device.type)


def causal_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    block: int = BLOCK,
) -> Tensor:
    """softmax(Q Kᵀ · scale + causal mask) V, query i seeing keys ≤ i: (..., T, Dh) ×3 → (..., T, Dh).

    mask: (B, T) bool, True = real key, B the first leading dimension of q (as in layers.attention).
    dropout_p: dropout on the weights (0.0 in evaluation). scale defaults to 1/√Dh.
    """
    if not (q.shape == k.shape and q.shape[:-1] == v.shape[:-1]) or q.dim() < 2:
        raise ValueError(
            f"causal self-attention needs q and k of one shape (..., T, Dh) and v of (..., T, Dv); "
            f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    *lead, t, dh = q.shape
    scale = dh**-0.5 if scale is None else scale
    key_bias = None if mask is None else _key_bias(mask, q.shape, q.dtype)
    flat = [x.reshape(-1, t, x.shape[-1]) for x in (q, k, v)]  # (N, T, Dh)
    out = _BlockedCausalAttention.apply(*flat, key_bias, dropout_p, scale, block)
    return out.view(*lead, t, v.shape[-1])


def _key_bias(mask: Tensor, q_shape: torch.Size, dtype: torch.dtype) -> Tensor:
    """The padding mask as an additive bias per key, (N, 1, T) (layers.masks.masking_bias: 0 on real keys, a
    huge negative number on padding, finite in every dtype)."""
    *lead, t, _ = q_shape
    allowed = broadcast_padding_mask(mask, q_shape, t)  # (B, 1, …, 1, T), or a mask of that shape as given
    if allowed.shape[-2] != 1:
        raise ValueError(f"causal_attention takes a padding mask per key, (B, T); got {tuple(mask.shape)}")
    return masking_bias(allowed, dtype).expand(*lead, 1, t).reshape(-1, 1, t)


def _queries_that_see_a_key(key_bias: Tensor) -> Tensor | None:
    """(N, T, 1) bool: whether query i sees at least one real key (one at a position ≤ i), or None when
    every query does. A query that sees none (left padding) gets a row of zero weights, per the contract."""
    sees = (key_bias.squeeze(1) == 0).cumsum(-1).gt_(0).unsqueeze_(-1)
    # A compiled graph cannot branch on data, so there the rows are always multiplied (correct either way).
    if not torch.compiler.is_compiling() and bool(sees.all()):
        return None
    return sees


class _BlockedCausalAttention(torch.autograd.Function):
    """The block loop of the module docstring on (N, T, Dh) tensors, forward and closed-form backward."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        key_bias: Tensor | None,
        dropout_p: float,
        scale: float,
        block: int,
    ) -> Tensor:
        t = q.shape[1]
        q_scaled = q * scale  # scaling q (N·T·Dh numbers) is cheaper than scaling the scores (N·T·T/2)
        k_t = k.transpose(1, 2).contiguous()  # (N, Dh, T): each block's Q Kᵀ reads a contiguous prefix of it
        # The causal rule on the diagonal square, P × P, shared by every block (the last block may be
        # shorter and takes its top-left corner).
        diagonal_bias = causal_bias(block, block, q.dtype, q.device)
        keep_scale = 1.0 / (1.0 - dropout_p)
        sees_a_key = None if key_bias is None else _queries_that_see_a_key(key_bias)
        blocks, saved = [], []
        for r0 in range(0, t, block):
            r1 = min(r0 + block, t)
            scores = torch.bmm(q_scaled[:, r0:r1], k_t[:, :, :r1])  # (N, rows, r1)
            scores[:, :, r0:r1].add_(diagonal_bias[: r1 - r0, : r1 - r0])
            if key_bias is not None:
                scores.add_(key_bias[:, :, :r1])
            weights = torch.softmax(scores, dim=-1)
            if sees_a_key is not None:
                weights.mul_(sees_a_key[:, r0:r1])
            keep = None
            if dropout_p > 0:
                keep = torch.empty_like(weights, dtype=torch.bool).bernoulli_(1.0 - dropout_p)
                blocks.append(torch.bmm(weights * keep * keep_scale, v[:, :r1]))
            else:
                blocks.append(torch.bmm(weights, v[:, :r1]))  # (N, rows, Dv)
            saved += [weights, keep]
        out = torch.cat(blocks, dim=1)  # (N, T, Dv)
        ctx.save_for_backward(q_scaled, k_t, v, out, *[x for x in saved if x is not None])
        ctx.block, ctx.scale, ctx.keep_scale, ctx.dropout = block, scale, keep_scale, dropout_p > 0
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor):
        q_scaled, k_t, v, out, *saved = ctx.saved_tensors
        block, t = ctx.block, q_scaled.shape[1]
        per_block = 2 if ctx.dropout else 1
        grad_out = grad_out.contiguous()
        d = (grad_out * out).sum(-1, keepdim=True)  # (N, T, 1): D = rowsum(G ∘ O)
        grad_q = torch.empty_like(q_scaled)
        grad_k = torch.zeros(k_t.shape[0], t, k_t.shape[1], dtype=k_t.dtype, device=k_t.device)  # (N, T, Dh)
        grad_v = torch.zeros_like(v)
        for i, r0 in enumerate(range(0, t, block)):
            r1 = min(r0 + block, t)
            weights = saved[i * per_block]
            g = grad_out[:, r0:r1]  # (N, rows, Dv)
            grad_w = torch.bmm(g, v[:, :r1].transpose(1, 2))  # ∂L/∂W, (N, rows, r1)
            if ctx.dropout:
                keep = saved[i * per_block + 1]
                grad_v[:, :r1] += torch.bmm((weights * keep * ctx.keep_scale).transpose(1, 2), g)
                grad_w.mul_(keep).mul_(ctx.keep_scale)
            else:
                grad_v[:, :r1] += torch.bmm(weights.transpose(1, 2), g)
            grad_scores = grad_w.sub_(d[:, r0:r1]).mul_(weights)  # ∂L/∂S, in the buffer of ∂L/∂W
            grad_q[:, r0:r1] = torch.bmm(grad_scores, k_t[:, :, :r1].transpose(1, 2))
            grad_k[:, :r1] += torch.bmm(grad_scores.transpose(1, 2), q_scaled[:, r0:r1])
        # q_scaled = q · scale, so ∂L/∂q = scale · ∂L/∂q_scaled; ∂L/∂K picked up the scale through q_scaled.
        return grad_q.mul_(ctx.scale), grad_k, grad_v, None, None, None, None
