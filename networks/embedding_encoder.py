"""Shallow encoders: token embedding, optional positions, at most one attention layer.

Shape legend: B batch, T time, D model width (`width`), V vocabulary size.

The rungs of the ladder, each an EncoderClassifier (networks/classifier.py) of this encoder and a PooledHead:
1. EmbeddingEncoder()                                     embedding → pool → linear (bag of words)
2. EmbeddingEncoder(mixer=SimpleSelfAttention())          tokens see each other, no parameters
3. EmbeddingEncoder(mixer=MultiHeadAttention(D, H))       projected, scaled, multi-head
4. positions="learned" | "sinusoidal" with any of them    order becomes visible
Rung 5, a stack of transformer blocks, is networks/encoder_sources.py's ScratchEncoder.
"""

from __future__ import annotations

from torch import Tensor, nn

from lab_errors import InputError
from layers.attention import MultiHeadAttention, SelfAttention
from layers.position import PositionKind, build_positions
from networks.word_vectors import WordVectorStart


class EmbeddingEncoder(WordVectorStart, nn.Module):
    """(input_ids (B, T), attention_mask (B, T) bool) → (B, T, D): embedding, positions, dropout, `mixer`.

    mixer: a token-mixing module called as mixer(x, mask=..., return_weights=...) (SimpleSelfAttention(),
    SelfAttention(d_model), MultiHeadAttention(d_model, n_heads)), or None. A module, not a factory of the width:
    a config names it with its own d_model, which must be the encoder's.

    Embeddings start as N(0, 1/D): parameter-free attention scores are dot products of embeddings, and with
    nn.Embedding's N(0, 1) a token's score with itself (≈ D) dwarfs its score with any other (≈ ±√D), so
    softmax(X Xᵀ) starts as the identity and no token ever learns to look at another. At 1/D the self-score is
    ≈ 1 and attention starts near uniform. `word_vectors` (a GloVe-format file, d_model wide) replaces them
    when training starts.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 300,
        positions: PositionKind = "none",
        max_len: int = 512,
        dropout: float = 0.0,
        mixer: nn.Module | None = None,
        word_vectors: str | None = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        for name, value in {"vocab_size": vocab_size, "d_model": d_model, "max_len": max_len}.items():
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"EmbeddingEncoder {name} must be a positive integer, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"EmbeddingEncoder dropout must be in [0, 1), got {dropout!r}")
        if isinstance(mixer, MultiHeadAttention | SelfAttention) and mixer.d_model != d_model:
            raise InputError(f"the mixer's d_model ({mixer.d_model}) must be the encoder's ({d_model})")
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.tok_emb.weight, std=d_model**-0.5)
        self.pos = build_positions(positions, d_model, max_len)
        self.drop = nn.Dropout(dropout)
        self.mixer = mixer
        self.width = d_model
        self.max_len = max_len if positions != "none" else None  # how many tokens it can read; None: any
        self.start_from_word_vectors(word_vectors, freeze_embeddings)

    @property
    def shows_attention(self) -> bool:
        """Whether forward(..., return_weights=True) has attention weights to return."""
        return self.mixer is not None

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Hidden states (B, T, D); with return_weights also the mixer's weights as a list of one (or none)."""
        x = self.tok_emb(input_ids)  # (B, T, D)
        if self.pos is not None:
            x = self.pos(x)
        x = self.drop(x)
        weights = []
        if self.mixer is not None:
            out = self.mixer(x, mask=attention_mask, return_weights=return_weights)
            x, weights = (out[0], [out[1]]) if return_weights else (out, [])
        return (x, weights) if return_weights else x
