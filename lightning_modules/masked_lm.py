"""BERT-style masked-language-model pretraining over any text data module.

Shape legend: B batch, T time, D model width, V vocabulary size.
"""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, SumMetric
from torchmetrics.classification import MulticlassAccuracy

from datamodules.contract import TextData
from lab_errors import InputError
from layers.transformer import TransformerConfig, TransformerEncoder
from lightning_modules import optim
from lightning_modules.epoch_metrics import ResumableEpochMetrics
from lightning_modules.lengths import check_lengths
from lightning_modules.text_encoder_state import TextEncoderInCheckpoint

IGNORE = -100
DEFAULT_TRANSFORMER = TransformerConfig()  # frozen: one shared default is safe


def mask_inputs(
    input_ids: Tensor,
    attention_mask: Tensor | None,
    mask_rate: float = 0.15,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: list[int] | tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """BERT's corruption: each real, non-special token is selected with probability `mask_rate`; of the
    selected, 80% become [MASK] (`mask_id`), 10% a random non-special token, 10% stay as they are.

    Returns the corrupted ids (B, T) and labels (B, T): the original id where selected, −100 elsewhere.
    Padding (attention_mask False) and special tokens are never selected. No loop over tokens.
    """
    if not 0.0 < mask_rate < 1.0:
        raise InputError(f"mask_rate must be in (0, 1), got {mask_rate}")
    ### BEGIN SOLUTION
    ### HINT: return (corrupted (B, T), labels (B, T), −100 unselected); real non-special tokens, 80/10/10
    device = input_ids.device
    candidates = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    if special_ids:
        candidates &= ~torch.isin(input_ids, torch.tensor(list(special_ids), device=device))
    draw = torch.rand(input_ids.shape, generator=generator, device=device)  # one draw decides both choices
    selected = candidates & (draw < mask_rate)
    # Within the selected, draw / mask_rate is uniform on [0, 1): below 0.8 mask, 0.8–0.9 random, else keep.
    share = draw / mask_rate
    to_mask = selected & (share < 0.8)
    to_random = selected & (share >= 0.8) & (share < 0.9)
    ordinary = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)], device=device)
    random_ids = ordinary[torch.randint(len(ordinary), input_ids.shape, generator=generator, device=device)]
    corrupted = torch.where(to_mask, mask_id, torch.where(to_random, random_ids, input_ids))
    labels = torch.where(selected, input_ids, IGNORE)
    return corrupted, labels
    ### END SOLUTION


class MaskedLM(ResumableEpochMetrics, TextEncoderInCheckpoint, optim.WarmupDecayOptimization, L.LightningModule):
    """A bidirectional TransformerEncoder over vocab_size + 1 embeddings (the last is [MASK]) and an output
    head over the vocabulary tied to the token embedding, trained to recover masked tokens.

    Works on any text data module's batches (input_ids, attention_mask): classification labels or LM
    targets in them are ignored. Logs train/loss, val/loss, val/acc (of the masked tokens) and val/ppl.
    `transformer` shapes the encoder (its vocab_size left out: the data's, plus [MASK]). Its encoder starts a
    classifier as the encoder source lightning_modules.mlm_encoder.MaskedLMEncoder.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int = 0,
        special_ids: list[int] | None = None,
        transformer: TransformerConfig = DEFAULT_TRANSFORMER,
        mask_rate: float = 0.15,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        warmup_steps: int = 200,
        lr_decay: optim.Decay = "cosine",
    ) -> None:
        super().__init__()
        if not 0.0 < mask_rate < 1.0:
            raise InputError(f"mask_rate must be in (0, 1), got {mask_rate}")
        # One embedding row more than the vocabulary: the [MASK] token.
        transformer = TransformerConfig.coerce(transformer)  # a mapping when a checkpoint rebuilds it
        self.config = transformer.with_vocab_size(vocab_size + 1)
        self.save_hyperparameters(ignore=["optimizer"])
        self.hparams["transformer"] = transformer.as_dict()  # plain data in checkpoints
        self.optimizer = optimizer
        self.mask_id = vocab_size  # one embedding beyond the vocabulary
        self.encoder = TransformerEncoder(self.config)
        self.head_bias = nn.Parameter(torch.zeros(vocab_size))
        self.accuracy = MulticlassAccuracy(vocab_size, average="micro", ignore_index=IGNORE)
        self.val_nll, self.val_count = SumMetric(), SumMetric()  # Σ −ln p and masked tokens, for val/ppl
        self.train_loss = MeanMetric()  # the epoch's train/loss, resumable mid-epoch (epoch_metrics.py)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.predict_tokens(self.encoder(input_ids, attention_mask))  # (B, T, V)

    def setup(self, stage: str) -> None:
        data = self.trainer.datamodule
        if isinstance(data, TextData):
            check_lengths(data.max_len, self.config.max_len)

    def predict_tokens(self, hidden: Tensor) -> Tensor:
        """Vocabulary logits (..., V) of encoder states (..., D)."""
        # The head shares the token embedding (not the [MASK] row): BERT's tied output layer.
        return F.linear(hidden, self.encoder.tok_emb.weight[: self.hparams.vocab_size], self.head_bias)

    def mask_inputs(self, input_ids: Tensor, attention_mask: Tensor | None, mask_rate: float | None = None):
        # [PAD] is special even when the data module names no special tokens.
        special = {self.hparams.pad_id, *(self.hparams.special_ids or ())}
        return mask_inputs(
            input_ids,
            attention_mask,
            mask_rate or self.hparams.mask_rate,
            mask_id=self.mask_id,
            vocab_size=self.hparams.vocab_size,
            special_ids=sorted(special),
        )

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        corrupted, labels = self.mask_inputs(batch["input_ids"], batch.get("attention_mask"))
        selected = labels != IGNORE  # (B, T)
        # Only the selected ~15% of positions go through the vocabulary projection: on IMDb (V 20,000, D 128)
        # the projection of every position cost several times the encoder itself.
        logits = self.predict_tokens(self.encoder(corrupted, batch.get("attention_mask"))[selected])  # (N, V)
        labels = labels[selected]  # (N,)
        count = int(selected.sum())
        # Summed, then divided: a batch in which nothing was masked gives a loss of 0, not the NaN of a mean
        # over no tokens (which would spoil the epoch's val/loss).
        total = F.cross_entropy(logits.float(), labels, reduction="sum")
        loss = total / max(count, 1)
        if stage == "train":
            self.train_loss(loss.detach(), weight=max(count, 1))
            self.log("train/loss", self.train_loss, prog_bar=True, on_step=True, on_epoch=True)
        else:
            self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=max(count, 1), on_epoch=True)
        if stage != "train":
            self.accuracy(logits, labels)
            self.log(f"{stage}/acc", self.accuracy, batch_size=max(count, 1))
        if stage == "val":
            self.val_nll.update(total.detach())
            self.val_count.update(count)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def resumable_epoch_metrics(self) -> dict[str, Metric]:
        return {"train_loss": self.train_loss}

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        if dataloader_idx == 0:  # LM data modules add a second loader for last-token bpc; not ours
            self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        count = self.val_count.compute()
        if count > 0:
            self.log("val/ppl", torch.exp(self.val_nll.compute() / count))
        self.val_nll.reset()
        self.val_count.reset()

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")
