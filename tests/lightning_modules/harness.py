"""A minimal LightningModule around a backbone, as lightning_modules.classifier.TextClassifier (issue 11)
builds one: `backbone(vocab_size, pad_id, num_classes)` stored as `network`. It lets the encoder-classifier
tests train before that module is merged; once it is, they can take TextClassifier instead."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

NUM_CLASSES = 2


class ClassifierHarness(L.LightningModule):
    """Cross-entropy on `labels`; AdamW over every parameter, or (only_trainable) over those that require a
    gradient when the optimiser is built."""

    def __init__(self, backbone, vocab_size: int, only_trainable: bool = False, lr: float = 0.01) -> None:
        super().__init__()
        self.network = backbone(vocab_size, 0, NUM_CLASSES)
        self.only_trainable, self.lr = only_trainable, lr
        self.encoder_training: list[tuple[int, bool]] = []  # (epoch, encoder.training) at each step

    def forward(self, input_ids, attention_mask):
        return self.network(input_ids, attention_mask)

    def training_step(self, batch, batch_idx):
        self.encoder_training.append((self.current_epoch, self.network.encoder.training))
        return F.cross_entropy(self(batch["input_ids"], batch["attention_mask"]), batch["labels"])

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", F.cross_entropy(self(batch["input_ids"], batch["attention_mask"]), batch["labels"]))

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad or not self.only_trainable]
        return torch.optim.AdamW(params, lr=self.lr)


def labelled_batches(vocab_size: int, count: int, batch_size: int = 4, max_len: int = 10) -> list[dict]:
    """`count` batches of random ids (never 0, the padding id), right-padded, with random labels."""
    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(count):
        lengths = torch.randint(2, max_len + 1, (batch_size,), generator=generator)
        mask = torch.arange(max_len)[None, :] < lengths[:, None]
        ids = torch.randint(1, vocab_size, (batch_size, max_len), generator=generator).masked_fill(~mask, 0)
        labels = torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator)
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return batches
