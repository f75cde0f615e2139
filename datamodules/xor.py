"""XOR (docs/corpora.md): two tokens from {true, false}, label 1 when they differ, generated from a seed."""

from __future__ import annotations

import torch
from torch import Tensor

from datamodules.classification import ClassificationDataModule, generated_sizes
from datamodules.encoders import WordEncoder
from datamodules.vocab import Vocabulary


class XORDataModule(ClassificationDataModule):
    """Two tokens from {true, false}; label 1 when they differ, 0 when they are the same. Generated
    in-process (train from `seed`, validation `seed + 1`, test `seed + 2`); no padding."""

    def __init__(
        self,
        train_size: int = 25_000,
        val_size: int = 25_000,
        test_size: int = 25_000,
        seed: int = 0,
        batch_size: int = 32,
        eval_batch_size: int | None = 1024,
        num_workers: int = 0,
    ) -> None:
        # Every example is two tokens: max_len says so, and training checks that a model's positions cover them.
        super().__init__(batch_size, eval_batch_size, max_len=2, num_workers=num_workers)
        self.sizes, self.seed = generated_sizes(train_size, val_size, test_size), seed

    def build_encoder(self) -> WordEncoder:
        return WordEncoder(Vocabulary(["true", "false"]), lower=False, strip_html=False, tokenizer="whitespace")

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n examples: token ids (n, 2) and labels (n,)."""
        words = torch.tensor([self.vocab.w2i["true"], self.vocab.w2i["false"]])
        choice = torch.randint(0, 2, (n, 2), generator=generator)  # (n, 2): 0 = true, 1 = false
        return words[choice], (choice[:, 0] != choice[:, 1]).long()

    def setup(self, stage: str | None = None) -> None:
        self.serve_generated(self.generate, self.sizes, self.seed)
