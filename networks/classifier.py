"""A classifier composed of an encoder and a head: the one network every classifier config composes (but the
recurrent classifier, networks/recurrent_classifier.py, whose decoders read the encoder's final states too).

Shape legend: B batch, T time, D encoder width, C classes.

    encoder (called as encoder(vocab_size))                                       ids → (B, T, D)
        networks/embedding_encoder.py   EmbeddingEncoder: embedding [+ positions] [+ one attention layer]
        networks/encoder_sources.py     ScratchEncoder (transformer blocks), BertEncoder, HuggingFaceBertEncoder
        lightning_modules/mlm_encoder.py MaskedLMEncoder (this lab's masked-LM checkpoint)
    head (called as head(D, num_classes))                                         (B, T, D) → (B, C)
        networks/heads.py               PooledHead (mean | max | first, optional hidden layer), BiGRUHead

A backbone for lightning_modules.classifier.TextClassifier, which builds it as
`EncoderClassifier(vocab_size, pad_id, num_classes)` with the rest from the YAML:

    backbone:
      class_path: networks.classifier.EncoderClassifier
      init_args:
        encoder: {class_path: lightning_modules.mlm_encoder.MaskedLMEncoder, init_args: {checkpoint: runs/mlm/imdb}}
        head: {class_path: networks.heads.BiGRUHead, init_args: {hidden_size: 128, num_layers: 2}}
        frozen: true

Frozen means what fine-tuning recipes mean: no gradients reach the encoder (its parameters do not require
them and it runs under no_grad, which also saves the activations' memory) and it stays in eval mode, so its
dropout is off even while Lightning puts the model in training mode. `freeze_encoder` switches it at any
time (lightning_modules/finetuning.py does, epoch by epoch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from lab_errors import InputError
from layers.transformer import TransformerStack
from networks.embedding_encoder import EmbeddingEncoder


def shows_attention(encoder: nn.Module) -> bool:
    """Whether `encoder` returns attention weights on return_weights=True: the hand-built stacks and an
    EmbeddingEncoder with a mixer do; Hugging Face's BertModel, run as is, is not asked."""
    if isinstance(encoder, EmbeddingEncoder):
        return encoder.shows_attention
    return isinstance(encoder, TransformerStack)


class EncoderClassifier(nn.Module):
    """(input_ids (B, T) long, attention_mask (B, T) bool, True = real token) → logits (B, C).

    encoder: called as encoder(vocab_size); a module ids → (B, T, D) with a `width` attribute (D) and a
    `max_len` one (the most tokens it reads, None for any).
    head: called as head(D, num_classes); a module (hidden (B, T, D), mask) → (B, C).
    pad_id is not needed: padding is told by the attention mask.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        num_classes: int,
        encoder: Callable[[int], nn.Module],
        head: Callable[[int, int], nn.Module],
        frozen: bool = False,
    ) -> None:
        super().__init__()
        if num_classes is None or num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        self.encoder = encoder(vocab_size)
        self.head = head(self.encoder.width, num_classes)
        self.max_len: int | None = self.encoder.max_len
        self.shows_attention = shows_attention(self.encoder)
        self.freeze_encoder(frozen)

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze (no gradients, eval mode) or unfreeze (gradients, the model's own mode) the encoder."""
        self.encoder_frozen = frozen
        self.encoder.requires_grad_(not frozen)
        self.encoder.train(self.training and not frozen)

    def train(self, mode: bool = True) -> EncoderClassifier:
        super().train(mode)
        if self.encoder_frozen:  # Lightning calls model.train() each epoch: a frozen encoder keeps eval mode
            self.encoder.eval()
        return self

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, return_weights: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits (B, C); with return_weights also each attention layer's weights ((B, [H,] T, T) each)."""
        if return_weights and not self.shows_attention:
            raise ValueError(f"{type(self.encoder).__name__} has no attention weights to return")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.encoder_frozen):
            if return_weights:
                hidden, weights = self.encoder(input_ids, attention_mask, return_weights=True)  # (B, T, D), [...]
            else:
                hidden, weights = self.encoder(input_ids, attention_mask), None  # (B, T, D)
        logits = self.head(hidden, attention_mask)  # (B, C)
        return (logits, weights) if return_weights else logits

    def extra_repr(self) -> str:
        return f"encoder_frozen={self.encoder_frozen}"
