"""What every classification data module shares: num_classes, loaders with padding and optional length
bucketing, and a file of texts to classify (`predict_path`).

A subclass fills `self.datasets[split]` (train, val, test) in `setup`, with `serve` for `datasets.Dataset`s
of input_ids, length and label.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from datasets import Dataset as HFDataset
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules.batching import (
    BucketBatchSampler,
    EpochShuffleSampler,
    TokenDataset,
    check_keep_tail,
    global_seed,
)
from datamodules.contract import TextData
from datamodules.preparation import chained, column
from datamodules.readers import read_texts
from datamodules.resumable import ResumableDataLoader
from lab_errors import InputError


def generated_sizes(train_size: int, val_size: int, test_size: int) -> dict[str, int]:
    """The split sizes of a generated corpus, each checked to be positive."""
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    for split, size in sizes.items():
        if size <= 0:
            raise InputError(f"{split}_size must be positive, got {size}")
    return sizes


class ClassificationDataModule(TextData, L.LightningDataModule):
    num_classes = 2  # sentiment: 1 = positive, 0 = negative

    def __init__(
        self,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        max_len: int | None = None,
        bucket: bool = False,
        num_workers: int = 0,
        pad_to_max_len: bool = False,
        predict_path: str | None = None,
        keep_tail: int = 0,
    ) -> None:
        super().__init__()
        if batch_size <= 0 or (eval_batch_size is not None and eval_batch_size <= 0):
            raise InputError(f"batch sizes must be positive, got {batch_size} and {eval_batch_size}")
        if max_len is not None and max_len <= 0:
            raise InputError(f"max_len must be positive, got {max_len}")
        if num_workers < 0:
            raise InputError(f"num_workers must be ≥ 0, got {num_workers}")
        if pad_to_max_len and max_len is None:
            raise InputError("pad_to_max_len needs a max_len to pad to")
        check_keep_tail(keep_tail, max_len)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.max_len, self.bucket, self.num_workers = max_len, bucket, num_workers
        self.pad_to_max_len, self.predict_path, self.keep_tail = pad_to_max_len, predict_path, keep_tail
        self.datasets: dict[str, Dataset] = {}
        self.lengths: dict[str, list[int]] = {}  # token counts per example, for bucketing
        self.predict_texts: list[str] = []  # one per line of predict_path (blank lines as empty texts)

    def serve(self, encoded: dict[str, HFDataset]) -> None:
        """Datasets of input_ids, length and label, read as torch tensors in the batch contract's names."""
        for split, dataset in encoded.items():
            self.lengths[split] = column(dataset, "length")
            renamed = dataset.rename_column("label", "labels", new_fingerprint=chained(dataset, "rename", {}))
            torch_rows = renamed.with_format("torch", columns=["input_ids", "labels"])
            self.datasets[split] = torch_rows

    def serve_generated(
        self, generate: Callable[[int, torch.Generator], tuple[Tensor, Tensor]], sizes: dict[str, int], seed: int
    ) -> None:
        """Generated corpora: split i (train, val, test) is `generate(sizes[split], generator seeded seed + i)`."""
        for offset, split in enumerate(("train", "val", "test")):
            if split not in self.datasets:
                ids, labels = generate(sizes[split], torch.Generator().manual_seed(seed + offset))
                self.datasets[split] = TokenDataset(ids, labels)

    def setup_predict(self, stage: str | None) -> None:
        """For `predict` with a `predict_path`: every line of it, blank ones too (as empty texts)."""
        if stage == "predict" and self.predict_path:
            self.predict_texts = read_texts(Path(self.predict_path))
            self.datasets["predict"] = TokenDataset([self.text_encoder.encode(t) for t in self.predict_texts])

    def _loader(self, split: str, train: bool = False) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"no {split} split: call setup() first, or this corpus has none")
        dataset = self.datasets[split]
        batch_size = self.batch_size if train else self.eval_batch_size
        loader = ResumableDataLoader if train else DataLoader  # training resumes mid-epoch where it stopped
        common = {
            "collate_fn": self.text_encoder.collate(self.max_len, self.pad_to_max_len, self.keep_tail),
            "num_workers": self.num_workers,
            "persistent_workers": self.num_workers > 0,
            # Its own generator: making an iterator then never draws from the global one (dropout's).
            "generator": torch.Generator().manual_seed(global_seed()),
        }
        if self.bucket and split in self.lengths and self._single_process():
            # Never for predict: bucketing reorders examples, and predictions must follow the input's order.
            sampler = BucketBatchSampler(self.lengths[split], batch_size, shuffle=train)
            return loader(dataset, batch_sampler=sampler, **common)
        sampler = EpochShuffleSampler(len(dataset)) if train else None
        return loader(dataset, batch_size=batch_size, sampler=sampler, **common)

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
