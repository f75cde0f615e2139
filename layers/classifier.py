"""Sequence classifiers composed from the layers: token ids (B, T) → class logits (B, C).

Shape legend: B batch, T time, D model width, C classes.

The ladder of the classic exercise, each rung adding one idea:
1. embedding → pool → linear                          (bag of words)
2. + SimpleSelfAttention before the pool              (tokens see each other, no parameters)
3. + MultiHeadAttention instead                       (projected, scaled, multi-head)
4. + position embeddings, with any of the above       (order becomes visible)
5. N TransformerBlocks (TransformerEncoder)           (attention + feed-forward, residuals, norms)
"""

from __future__ import annotations

from torch import Tensor, nn

from layers.attention import AttentionImpl, MultiHeadAttention, SimpleSelfAttention
from layers.blocks import Activation, NormPlacement
from layers.encoder_sources import ScratchEncoder
from layers.errors import InputError
from layers.pooling import Pool, PoolKind
from layers.position import PositionKind, build_positions


class ShallowEncoder(nn.Module):
    """Rungs 1–4: token embedding, optional positions, at most one attention layer (`mixer`).

    Embeddings start as N(0, 1/D): parameter-free attention scores are dot products of embeddings, and
    with nn.Embedding's N(0, 1) a token's score with itself (≈ D) dwarfs its score with any other
    (≈ ±√D), so softmax(X Xᵀ) starts as the identity and no token ever learns to look at another.
    At 1/D the self-score is ≈ 1 and attention starts near uniform.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        mixer: SimpleSelfAttention | MultiHeadAttention | None = None,
        positions: str = "none",
        max_len: int = 512,
        dropout: float = 0.0,
        pad_id: int | None = 0,
    ) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        nn.init.normal_(self.tok_emb.weight, std=d_model**-0.5)
        if pad_id is not None:
            nn.init.zeros_(self.tok_emb.weight[pad_id])
        self.pos = build_positions(positions, max_len, d_model)
        self.drop = nn.Dropout(dropout)
        self.mixer = mixer

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        x = self.tok_emb(input_ids)  # (B, T, D)
        if self.pos is not None:
            x = self.pos(x)
        x = self.drop(x)
        weights = []
        if self.mixer is not None:
            out = self.mixer(x, mask=attention_mask, return_weights=return_weights)
            x, weights = (out[0], [out[1]]) if return_weights else (out, [])
        return (x, weights) if return_weights else x


class SequenceClassifierNet(nn.Module):
    """encoder (ids → (B, T, D)) → pool over real tokens → dropout → linear → (B, C) logits.

    With `hidden_size`, a tanh hidden layer of that width comes between the pooled vector and the output.
    """

    def __init__(
        self,
        encoder: nn.Module,
        d_model: int,
        num_classes: int,
        pool: str = "mean",
        dropout: float = 0.0,
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        self.encoder = encoder
        self.pool = Pool(pool)
        self.drop = nn.Dropout(dropout)
        if hidden_size:
            self.head = nn.Sequential(nn.Linear(d_model, hidden_size), nn.Tanh(), nn.Linear(hidden_size, num_classes))
        else:
            self.head = nn.Linear(d_model, num_classes)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits (B, C); with return_weights also each attention layer's weights ((B, [H,] T, T) each)."""
        hidden = self.encoder(input_ids, attention_mask, return_weights=return_weights)
        hidden, weights = hidden if return_weights else (hidden, None)
        logits = self.head(self.drop(self.pool(hidden, attention_mask)))  # (B, C)
        return (logits, weights) if return_weights else logits


class TransformerClassifier(SequenceClassifierNet):
    """A TransformerEncoder (the masked LM's shape) → pool → dropout → linear: (B, T) ids → (B, C) logits.

    A backbone for lightning_modules.classifier.TextClassifier: vocab_size, pad_id and num_classes come
    first (the data module supplies them). The encoder sits under `encoder.` with TransformerEncoder's
    parameter names, so a MaskedLM of the same shape loads into it (load_mlm_encoder). pad_id is not needed
    here: padding is excluded by the attention mask and the pool, not by the embedding.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        num_classes: int,
        d_model: int = 256,
        n_heads: int = 4,
        n_layers: int = 2,
        norm: NormPlacement = "pre",
        activation: Activation = "gelu",
        positions: PositionKind = "learned",
        max_len: int = 256,
        dropout: float = 0.1,
        pool: PoolKind = "mean",
        attn_impl: AttentionImpl = "manual",
    ) -> None:
        # The from-scratch encoder source of the composed classifiers (layers/encoder_sources.py): one place
        # builds it; its parameters sit under `encoder.` with TransformerEncoder's names either way.
        encoder = ScratchEncoder(
            vocab_size, d_model, n_heads, n_layers, max_len, positions, norm, activation, dropout, attn_impl
        )
        super().__init__(encoder, d_model, num_classes, pool, dropout)
        # How many tokens a text may have: positions cover max_len of them.
        self.max_len = max_len if positions != "none" else None
