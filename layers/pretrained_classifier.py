"""A classifier composed of a (pretrained) transformer encoder and a head, the encoder frozen or trained.

Shape legend: B batch, T time, D encoder width, C classes.

    encoder source (layers/encoder_sources.py, lightning_modules/mlm_encoder.py)   ids → (B, T, D)
    head (layers/encoder_heads.py: PooledHead, BiGRUHead)                           (B, T, D) → (B, C)

A backbone for lightning_modules.classifier.TextClassifier, which builds it as
`EncoderClassifierNet(vocab_size, pad_id, num_classes)` with the rest from the YAML:

    backbone:
      class_path: layers.pretrained_classifier.EncoderClassifierNet
      init_args:
        encoder: {class_path: lightning_modules.mlm_encoder.MaskedLMEncoder, init_args: {checkpoint: runs/mlm/imdb}}
        head: {class_path: layers.encoder_heads.BiGRUHead, init_args: {hidden_size: 128, num_layers: 2}}
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


class EncoderClassifierNet(nn.Module):
    """(input_ids (B, T) long, attention_mask (B, T) bool, True = real token) → logits (B, C).

    encoder: called as encoder(vocab_size); a module ids → (B, T, D) with a `width` attribute (D).
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
        self.encoder = encoder(vocab_size)
        self.head = head(self.encoder.width, num_classes)
        self.freeze_encoder(frozen)

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze (no gradients, eval mode) or unfreeze (gradients, the model's own mode) the encoder."""
        self.encoder_frozen = frozen
        self.encoder.requires_grad_(not frozen)
        self.encoder.train(self.training and not frozen)

    def train(self, mode: bool = True) -> EncoderClassifierNet:
        super().train(mode)
        if self.encoder_frozen:  # Lightning calls model.train() each epoch: a frozen encoder keeps eval mode
            self.encoder.eval()
        return self

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.encoder_frozen):
            hidden = self.encoder(input_ids, attention_mask)  # (B, T, D)
        return self.head(hidden, attention_mask)  # (B, C)

    def extra_repr(self) -> str:
        return f"encoder_frozen={self.encoder_frozen}"
