"""What the text data modules share.

TextDataModule: the TextEncoder and the vocabulary attributes the CLI links into models (vocab_size, pad_id,
special_ids). A subclass says how to get its encoder (`build_encoder`, called the first time anything asks
for the vocabulary, which the CLI does before building the model).

ClassificationDataModule adds num_classes, the padding collate and optional length bucketing; a subclass
fills `self.datasets[split]` for split in train/val/test/predict in `setup`.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from datamodules.collate import BucketBatchSampler, EpochShuffleSampler, TokenDataset, global_seed
from datamodules.contract import TextData


class TextDataModule(TextData, L.LightningDataModule):
    """A LightningDataModule that meets the model ↔ data contract (datamodules/contract.py)."""


class ClassificationDataModule(TextDataModule):
    num_classes = 2  # sentiment: 1 = positive, 0 = negative

    def __init__(
        self,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        max_len: int | None = None,
        bucket: bool = False,
        num_workers: int = 0,
        pad_to_max_len: bool = False,
    ) -> None:
        super().__init__()
        if batch_size <= 0 or (eval_batch_size is not None and eval_batch_size <= 0):
            raise ValueError(f"batch sizes must be positive, got {batch_size} and {eval_batch_size}")
        if max_len is not None and max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be ≥ 0, got {num_workers}")
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        if pad_to_max_len and max_len is None:
            raise ValueError("pad_to_max_len needs a max_len to pad to")
        self.max_len, self.bucket, self.num_workers = max_len, bucket, num_workers
        self.pad_to_max_len = pad_to_max_len
        self.datasets: dict[str, Dataset] = {}

    def _loader(self, split: str, train: bool = False) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"no {split} split: call setup() first, or this corpus has none")
        dataset = self.datasets[split]
        batch_size = self.batch_size if train else self.eval_batch_size
        common = {
            "collate_fn": self.text_encoder.collate(self.max_len, self.pad_to_max_len),
            "num_workers": self.num_workers,
            "persistent_workers": self.num_workers > 0,
            # Its own generator: making an iterator then never draws from the global one (dropout's).
            "generator": torch.Generator().manual_seed(global_seed()),
        }
        if self.bucket and split != "predict" and isinstance(dataset, TokenDataset) and self._single_process():
            # Never for predict: bucketing reorders examples, and predictions must follow the input's order.
            sampler = BucketBatchSampler(dataset.lengths(), batch_size, shuffle=train)
            return DataLoader(dataset, batch_sampler=sampler, **common)
        sampler = EpochShuffleSampler(len(dataset)) if train else None
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **common)

    def _single_process(self) -> bool:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        if world_size > 1:  # Lightning's distributed samplers cannot wrap a custom batch sampler
            rank_zero_warn(
                f"bucket=True works in one process only; batching without bucketing under {world_size} processes"
            )
        return world_size == 1

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict" if "predict" in self.datasets else "test")
