"""Attention computed by tiles of queries, nothing of size (T, T) kept: the hand-built path at length.

Shape legend: N the leading (batch · head) dimensions flattened, Tq queries, Tk keys, Dh head width; a tile
is n of the N rows and P of their queries.

The textbook path (layers.attention.scaled_dot_product_attention) builds the whole score matrix of every head,
(N, Tq, Tk), keeps the weights for the backward and allocates each of its copies afresh. At B=32, H=4, T=256
that is 32 MiB a copy: above what glibc's malloc keeps for reuse (its mmap threshold tops out at 32 MiB), so
each copy is a fresh mmap, page-faulted in and handed back to the kernel at every step. This file computes the
same softmax(Q Kᵀ · scale) V one tile at a time, each tile's scores small enough to stay in malloc's heap and
in cache, and keeps only q, k, v and the output for the backward, which computes each tile's weights again
(one more matrix product, as fused kernels do):

    forward, tile r:   W = softmax(Q_r Kᵀ · scale + bias),   O_r = W V
    backward, tile r:  W again, then   ∂L/∂V += Wᵀ G_r,   ∂L/∂W = G_r Vᵀ,   ∂L/∂S = W ∘ (∂L/∂W − D_r),
                       D = rowsum(G ∘ O),   ∂L/∂Q_r = scale · ∂L/∂S K,   ∂L/∂K += scale · (∂L/∂S)ᵀ Q_r

(layers/causal_attention.py derives the same gradient for its blocks.) Memory held between forward and
backward is O(N · T · Dh), like the fused kernel's, instead of O(N · T²). A tile reads the keys up to the last
real key of its rows only: the padding after it has weight exactly 0 (plan_tiles).

Dropout (rate p on the weights) draws each tile's keep mask from a generator seeded once per call from
torch's global generator, and the backward draws the same masks again from the same seed rather than keeping
them; so torch.manual_seed still fixes the result, and no (T, T) mask is stored either.

The mask contract is the project's (layers/attention.py): a padding mask (B, Tk), True = real key. A query
that sees no key (an all-padding sequence) gets zero weights and a zero output. The forward is not
differentiable twice.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from layers.masks import broadcast_padding_mask, masking_bias

# One tile's scores, (n, P, Tk) for n of the N rows and P queries, are kept at or under this many bytes:
# small enough that malloc serves them from its heap after the first step and that a tile's scores, weights
# and their gradient stay in cache between the calls that pass over them, large enough that the Python loop's
# calls cost little. At B=32, H=4, T=256 (Dh=32) 1, 2 and 4 MiB were within 7% of each other and 8 MiB 20%
# slower (benchmarks/attention.py, quiet, 2-core AMD EPYC with 1 MiB of L2 per core).
TILE_BYTES = 2 * 2**20
# Queries per tile at most: with all of a row's queries in one tile, its output and gradients are written in
# one piece; longer sequences split their queries so that a tile still holds several rows.
MAX_TILE_QUERIES = 256
# Below this many bytes of scores the whole matrix is one small allocation already, and the textbook path,
# which keeps its weights instead of recomputing them, is the cheaper one.
WHOLE_MATRIX_BYTES = 2 * 2**20


def tile_shape(n: int, tq: int, tk: int, element_size: int, budget: int = TILE_BYTES) -> tuple[int, int]:
    """(rows of N, queries) per tile so that its (rows, queries, Tk) scores fit in `budget` bytes."""
    queries = min(tq, MAX_TILE_QUERIES, max(1, budget // (tk * element_size)))
    return min(n, max(1, budget // (queries * tk * element_size))), queries


def blocked_attention_pays(q: Tensor, k: Tensor, mask: Tensor | None) -> bool:
    """Whether `blocked_attention` applies and is the faster path: no mask or one per key, no autocast (whose
    casts the written-out backward would not repeat), and scores larger than WHOLE_MATRIX_BYTES."""
    per_key = mask is None or mask.dim() == 2 or (mask.dim() == q.dim() and mask.shape[-2] == 1)
    scores_bytes = q.shape[:-1].numel() * k.shape[-2] * q.element_size()
    return per_key and scores_bytes > WHOLE_MATRIX_BYTES and not torch.is_autocast_enabled(q.device.type)


def blocked_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
    tile: tuple[int, int] | None = None,
) -> Tensor:
    """softmax(Q Kᵀ · scale) V over the real keys: (..., Tq, Dh), (..., Tk, Dh), (..., Tk, Dv) → (..., Tq, Dv).

    mask: (B, Tk) bool, True = real key, B the first leading dimension of q (as in layers.attention), or a
    per-key mask already broadcast, (B, 1, …, 1, Tk). dropout_p: dropout on the weights (0.0 in evaluation).
    scale defaults to 1/√Dh. tile: (rows, queries) per tile, by default as many as fit TILE_BYTES.
    """
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError(f"q, k, v must share a rank of at least 2 (..., T, D); got {q.dim()}, {k.dim()}, {v.dim()}")
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"attention needs q (..., Tq, Dh), k (..., Tk, Dh) and v (..., Tk, Dv) with the same leading dims; "
            f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    *lead, tq, dh = q.shape
    tk = k.shape[-2]
    scale = dh**-0.5 if scale is None else scale
    key_bias = None if mask is None else key_bias_per_row(mask, q.shape, tk, q.dtype)
    flat_q, flat_k, flat_v = (x.reshape(-1, x.shape[-2], x.shape[-1]) for x in (q, k, v))  # (N, T, ·)
    rows, queries = tile or tile_shape(flat_q.shape[0], tq, tk, q.element_size())
    tiles = plan_tiles(flat_q.shape[0], tq, tk, rows, queries, key_bias)
    # Drawn here, outside the Function, so the seed comes from (and advances) torch's global generator.
    seed = int(torch.randint(2**62, (), device="cpu")) if dropout_p > 0 else 0
    out = _BlockedAttention.apply(flat_q, flat_k, flat_v, key_bias, dropout_p, scale, tiles, seed)
    return out.view(*lead, tq, v.shape[-1])


def key_bias_per_row(mask: Tensor, q_shape: torch.Size, tk: int, dtype: torch.dtype) -> Tensor:
    """The padding mask as an additive bias per key for each of the N flattened rows, (N, 1, Tk): 0 on real
    keys, a huge negative number on padding (layers.masks.masking_bias, finite in every dtype)."""
    *lead, _, _ = q_shape
    allowed = broadcast_padding_mask(mask, q_shape, tk)  # (B, 1, …, 1, Tk), or a mask of that shape as given
    if allowed.shape[-2] != 1:
        raise ValueError(f"blocked attention takes a padding mask per key, (B, Tk); got {tuple(mask.shape)}")
    return masking_bias(allowed, dtype).expand(*lead, 1, tk).reshape(-1, 1, tk)


# A tile: rows n0 … n1 − 1 of N, queries r0 … r1 − 1, keys 0 … keys − 1.
Tile = tuple[int, int, int, int, int]


def plan_tiles(n: int, tq: int, tk: int, rows: int, queries: int, key_bias: Tensor | None) -> list[Tile]:
    """The tiles that cover the (N, Tq) queries, each with the keys it must read.

    Keys after a row's last real key get weight exactly 0, so a tile reads keys only up to the last real key
    of its rows: on a right-padded batch that skips the padding of each tile's longest sequence, a quarter of
    the work when lengths spread evenly over T/2 … T. A tile whose rows have no real key at all reads none.
    (A compiled graph cannot read the mask's values on the host, so there every tile reads every key.)
    """
    ends = [tk] * n
    if key_bias is not None and not torch.compiler.is_compiling():
        positions = torch.arange(1, tk + 1, device=key_bias.device)
        ends = torch.where(key_bias[:, 0] == 0, positions, 0).amax(-1).tolist()  # per row: last real key + 1
    tiles = []
    for n0 in range(0, n, rows):
        n1 = min(n0 + rows, n)
        keys = max(ends[n0:n1])
        tiles += [(n0, n1, r0, min(r0 + queries, tq), keys) for r0 in range(0, tq, queries)]
    return tiles


def _rows_that_see_a_key(key_bias: Tensor) -> Tensor | None:
    """(N, 1, 1) bool: whether row n has at least one real key, or None when every row does."""
    sees = (key_bias == 0).any(-1, keepdim=True)
    # A compiled graph cannot branch on data, so there the rows are always multiplied (correct either way).
    if not torch.compiler.is_compiling() and bool(sees.all()):
        return None
    return sees


def _keep_masks(seed: int, like: Tensor, dropout_p: float, tiles: list[Tile]):
    """The dropout keep mask of each tile, scaled by 1/(1 − p): the same sequence for the same seed."""
    generator = torch.Generator(device=like.device).manual_seed(seed)
    for n0, n1, r0, r1, keys in tiles:
        keep = torch.empty(n1 - n0, r1 - r0, keys, dtype=like.dtype, device=like.device)
        yield keep.bernoulli_(1.0 - dropout_p, generator=generator).mul_(1.0 / (1.0 - dropout_p))


def _tile_weights(q_tile: Tensor, k_t: Tensor, bias: Tensor | None) -> Tensor:
    """softmax(Q Kᵀ · scale + bias) of one tile, (n, P, keys), from its scaled queries (n, P, Dh), Kᵀ (n, Dh,
    keys) and the bias (n, 1, keys).

    The same calls in the forward and the backward, so the recomputed weights are the forward's bit for bit.
    torch's softmax kernel is used rather than exp(S − L) from a saved log-sum-exp L: on a CPU, exp of the
    masked scores' huge negative numbers takes Sleef's slow path (8 ms against softmax's 1.2 ms for 8 MiB of
    scores here), and logsumexp costs several passes more than softmax's one.
    """
    scores = torch.bmm(q_tile, k_t) if bias is None else torch.baddbmm(bias, q_tile, k_t)
    return torch.softmax(scores, dim=-1)


class _BlockedAttention(torch.autograd.Function):
    """The tile loop of the module docstring on (N, T, ·) tensors, forward and written-out backward."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        key_bias: Tensor | None,
        dropout_p: float,
        scale: float,
        tiles: list[Tile],
        seed: int,
    ) -> Tensor:
        q_scaled = q * scale  # scaling q (N·Tq·Dh numbers) is cheaper than scaling the scores (N·Tq·Tk)
        k_t = k.transpose(1, 2).contiguous()  # (N, Dh, Tk)
        v = v.contiguous()
        sees_a_key = None if key_bias is None else _rows_that_see_a_key(key_bias)
        keeps = _keep_masks(seed, q, dropout_p, tiles) if dropout_p > 0 else None
        out = q.new_zeros(q.shape[0], q.shape[1], v.shape[-1])  # a tile that reads no key leaves zeros
        for n0, n1, r0, r1, keys in tiles:
            if keys == 0:
                continue
            bias = None if key_bias is None else key_bias[n0:n1, :, :keys]
            weights = _tile_weights(q_scaled[n0:n1, r0:r1], k_t[n0:n1, :, :keys], bias)  # (n, P, keys)
            if keeps is not None:
                weights.mul_(next(keeps))
            out[n0:n1, r0:r1] = torch.bmm(weights, v[n0:n1, :keys])  # (n, P, Dv)
        if sees_a_key is not None:
            out.mul_(sees_a_key)  # a row with no real key had uniform weights over its padding; the contract says 0
        ctx.save_for_backward(q_scaled, k_t, v, out, key_bias, sees_a_key)
        ctx.scale, ctx.tiles, ctx.dropout_p, ctx.seed = scale, tiles, dropout_p, seed
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor):
        q_scaled, k_t, v, out, key_bias, sees_a_key = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        d = (grad_out * out).sum(-1, keepdim=True)  # (N, Tq, 1): D = rowsum(G ∘ O)
        k, v_t = k_t.transpose(1, 2), v.transpose(1, 2)  # (N, Tk, Dh), (N, Dv, Tk): views
        keeps = _keep_masks(ctx.seed, q_scaled, ctx.dropout_p, ctx.tiles) if ctx.dropout_p > 0 else None
        grad_q = torch.zeros_like(q_scaled)
        grad_k = torch.zeros_like(k)  # (N, Tk, Dh)
        grad_v = torch.zeros_like(v)
        for n0, n1, r0, r1, keys in ctx.tiles:
            if keys == 0:
                continue
            q_tile, g = q_scaled[n0:n1, r0:r1], grad_out[n0:n1, r0:r1]  # (n, P, Dh), (n, P, Dv)
            bias = None if key_bias is None else key_bias[n0:n1, :, :keys]
            weights = _tile_weights(q_tile, k_t[n0:n1, :, :keys], bias)  # the forward's weights, recomputed
            if sees_a_key is not None:
                weights.mul_(sees_a_key[n0:n1])
            grad_w = torch.bmm(g, v_t[n0:n1, :, :keys])  # ∂L/∂W, (n, P, keys)
            if keeps is not None:
                keep = next(keeps)
                grad_w.mul_(keep)
                grad_v[n0:n1, :keys] += torch.bmm((weights * keep).transpose(1, 2), g)
            else:
                grad_v[n0:n1, :keys] += torch.bmm(weights.transpose(1, 2), g)
            grad_scores = grad_w.sub_(d[n0:n1, r0:r1]).mul_(weights)  # ∂L/∂S, in the buffer of ∂L/∂W
            grad_q[n0:n1, r0:r1] = torch.bmm(grad_scores, k[n0:n1, :keys])
            grad_k[n0:n1, :keys] += torch.bmm(grad_scores.transpose(1, 2), q_tile)
        # q_scaled = q · scale, so ∂L/∂q = scale · ∂L/∂q_scaled; ∂L/∂K picked up the scale through q_scaled.
        return grad_q.mul_(ctx.scale), grad_k, grad_v, None, None, None, None, None
