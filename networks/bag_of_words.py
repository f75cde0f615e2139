"""Logistic regression on a bag of words: the count of each vocabulary word in a review, then one linear layer.

Shape legend: B batch, T time, V vocabulary size, C classes.

The counterpart of averaged word vectors (configs/reviews/logreg.yaml) that the NLP homework asks students to
compare with: the same reviews, the same vocabulary and truncation, but one weight per word and class instead
of a fixed 50-d GloVe vector per word. A backbone for lightning_modules.classifier.TextClassifier, which builds
it as `BagOfWordsClassifier(vocab_size, pad_id, num_classes)` with the rest from the YAML.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lab_errors import InputError


class BagOfWordsClassifier(nn.Module):
    """(input_ids (B, T) long, attention_mask (B, T) bool, True = real token) → logits (B, C).

    Each real token adds 1 to its word's count (padding adds nothing); with `binary` a word counts once however
    often it occurs. Special tokens other than padding ([UNK] for out-of-vocabulary words) are features like
    any word. pad_id is not needed: padding is told by the attention mask.
    """

    def __init__(self, vocab_size: int, pad_id: int, num_classes: int, binary: bool = False) -> None:
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size <= 0:
            raise InputError(f"BagOfWordsClassifier vocab_size must be a positive integer, got {vocab_size!r}")
        if num_classes is None or num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        self.vocab_size, self.binary = vocab_size, binary
        self.linear = nn.Linear(vocab_size, num_classes)

    def counts(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """The bag of words (B, V), float: how often each word occurs among the real tokens."""
        real = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask
        bags = torch.zeros(input_ids.shape[0], self.vocab_size, device=input_ids.device)  # (B, V)
        bags.scatter_add_(1, input_ids, real.to(bags.dtype))
        return bags.clamp(max=1.0) if self.binary else bags

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.linear(self.counts(input_ids, attention_mask))  # (B, C)
