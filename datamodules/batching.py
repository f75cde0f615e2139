"""Batches of variable-length token sequences, padded to the longest one in the batch (or to a fixed length).

Batch contract (see docs/design.md): `input_ids` LongTensor (B, T); `attention_mask` BoolTensor (B, T), True
where the token is real; `labels` LongTensor (B,) when the examples carry a label.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from lab_errors import InputError


class TokenDataset(Dataset):
    """Token-id sequences with optional integer labels; item i is {"input_ids": ..., "labels": ...}."""

    def __init__(self, sequences: Sequence[Sequence[int]] | Tensor, labels: Sequence[int] | Tensor | None = None):
        if labels is not None and len(labels) != len(sequences):
            raise ValueError(f"{len(sequences)} sequences but {len(labels)} labels")
        self.sequences, self.labels = sequences, labels

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> dict:
        item = {"input_ids": self.sequences[i]}
        if self.labels is not None:
            item["labels"] = self.labels[i]
        return item

    def lengths(self) -> list[int]:
        if isinstance(self.sequences, Tensor):
            return [self.sequences.shape[1]] * len(self.sequences)
        return [len(s) for s in self.sequences]


def check_keep_tail(keep_tail: int, max_len: int | None) -> None:
    """Head + tail truncation keeps `keep_tail` closing tokens of a text cut to `max_len`: 0 (off) up to
    `max_len` (the tail alone); anything else is bad input."""
    if keep_tail < 0 or (keep_tail and (max_len is None or keep_tail > max_len)):
        raise InputError(f"keep_tail must be between 0 and max_len ({max_len}), got {keep_tail}")


class PadCollate:
    """Pads `input_ids` to the longest sequence of the batch (or to `max_len` with `fixed_length`), after
    truncating to `max_len` if given.

    keep_last: a sequence cut to `max_len` keeps its last token in the last place, as BERT's truncation
    keeps the closing [SEP] of `[CLS] … [SEP]`.
    keep_tail: a sequence cut to `max_len` keeps its first `max_len - keep_tail` tokens and its last
    `keep_tail` ("head + tail" truncation: a review's verdict is often in its closing lines; Sun et al. 2019,
    How to Fine-Tune BERT for Text Classification). `keep_tail = max_len` keeps the tail alone.
    """

    def __init__(
        self,
        pad_id: int,
        max_len: int | None = None,
        keep_last: bool = False,
        fixed_length: bool = False,
        keep_tail: int = 0,
    ) -> None:
        if max_len is not None and max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        if fixed_length and max_len is None:
            raise ValueError("fixed_length needs a max_len to pad to")
        check_keep_tail(keep_tail, max_len)
        self.pad_id, self.max_len, self.keep_last, self.fixed_length = pad_id, max_len, keep_last, fixed_length
        self.keep_tail = keep_tail

    def truncate(self, ids) -> Tensor:
        seq = torch.as_tensor(ids, dtype=torch.long)
        if self.max_len is None or len(seq) <= self.max_len:
            return seq
        tail = max(self.keep_tail, int(self.keep_last and self.max_len > 1))
        if tail:
            return torch.cat([seq[: self.max_len - tail], seq[len(seq) - tail :]])
        return seq[: self.max_len]

    def __call__(self, examples: list[dict]) -> dict[str, Tensor]:
        ### BEGIN SOLUTION
        ### HINT: return {input_ids (B, L) padded with pad_id, attention_mask (B, L) True = real, labels (B,)}
        sequences = [self.truncate(e["input_ids"]) for e in examples]
        # An empty text still gives a (B, 1) batch.
        longest = self.max_len if self.fixed_length else max(1, max(len(s) for s in sequences))
        input_ids = torch.full((len(sequences), longest), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), longest), dtype=torch.bool)
        for row, seq in enumerate(sequences):
            input_ids[row, : len(seq)] = seq
            attention_mask[row, : len(seq)] = True
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "labels" in examples[0]:
            batch["labels"] = torch.as_tensor([int(e["labels"]) for e in examples], dtype=torch.long)
        return batch
        ### END SOLUTION


def global_seed() -> int:
    """The seed of seed_everything (Lightning keeps it in PL_GLOBAL_SEED), or 0."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


class EpochShuffleSampler(Sampler[int]):
    """A new permutation each epoch that depends on (seed, epoch) alone.

    torch's RandomSampler draws from the global generator whenever an iterator is made, so the order of a
    resumed run depends on when Lightning happens to make it; here Lightning's set_epoch() fixes the order,
    and a run resumed at epoch e shuffles exactly as an uninterrupted one.
    """

    def __init__(self, size: int, seed: int | None = None) -> None:
        self.size, self.seed, self.epoch = size, global_seed() if seed is None else seed, 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_next_pass(self, n: int) -> None:
        """The next pass leaves out its first `n` indices (a run resumed mid-epoch: datamodules/resumable.py)."""
        self._skip = n

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        return iter(torch.randperm(self.size, generator=self.generator()).tolist()[skip:])


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length, so little of each batch is padding.

    Indices come from `sampler` (an EpochShuffleSampler when shuffling), are cut into pools of
    `pool_batches` batches, sorted by length inside each pool and batched; the batch order is shuffled
    again so lengths do not rise through the epoch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int | None = None,
        pool_batches: int = 50,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.lengths, self.batch_size, self.shuffle = list(lengths), batch_size, shuffle
        self.pool_size = batch_size * pool_batches
        # Lightning calls set_epoch on batch_sampler.sampler: the epoch reaches the shuffles through it.
        self.sampler = EpochShuffleSampler(len(self.lengths), seed) if shuffle else range(len(self.lengths))
        self._skip = 0

    @property
    def epoch(self) -> int:
        return self.sampler.epoch if self.shuffle else 0

    def skip_next_pass(self, n: int) -> None:
        """The next pass leaves out its first `n` batches (a run resumed mid-epoch: datamodules/resumable.py)."""
        self._skip = n

    def __len__(self) -> int:  # every pool but the last is a whole number of batches
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        skip, self._skip = self._skip, 0
        order = list(self.sampler)
        batches = []
        for start in range(0, len(order), self.pool_size):
            pool = sorted(order[start : start + self.pool_size], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.shuffle:
            shuffled = torch.randperm(len(batches), generator=self.sampler.generator()).tolist()
            batches = [batches[i] for i in shuffled]
        return iter(batches[skip:])
