"""Language-model data: one long token stream per split, served as slices of length L.

Shape legend: B batch, L slice length (the model's context), N tokens in a split.

Batches follow the project's contract: input_ids (B, L), attention_mask (B, L) all True, labels (B, L) the
next token at every position, or -100 where no loss is taken.

- training: B random slices of L + 1 tokens, cut with one gather (no Python loop per example); input is
  x[:, :-1], target x[:, 1:]. An epoch is `batches_per_epoch` batches; batch k of the run is drawn from a
  generator seeded by (seed, k), so a resumed run sees exactly the batches an uninterrupted one would.
- validation, two figures: (0) every token of the split scored once, each with up to L tokens of context
  (windows of L overlapping by half: val/bpc); (1) a cheaper estimate, the last token of
  `last_token_batches` batches of random slices from a fixed seed (val/bpc_last_token; 0 leaves this
  second loader out).
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from datamodules.batching import global_seed
from datamodules.contract import TextData
from datamodules.resumable import ResumableDataLoader
from lab_errors import InputError

IGNORE = -100


class RandomSlices(Dataset):
    """Item k is the k-th batch of the run: B slices of L + 1 tokens at random places of `tokens`."""

    def __init__(self, tokens: Tensor, seq_len: int, batch_size: int, seed: int, last_token_only: bool = False):
        if len(tokens) < seq_len + 1:
            raise ValueError(
                f"a corpus of {len(tokens)} tokens is shorter than one slice of {seq_len + 1}: "
                "use a longer text or a smaller seq_len"
            )
        self.tokens, self.seq_len, self.batch_size, self.seed = tokens, seq_len, batch_size, seed
        self.last_token_only = last_token_only
        self.offsets = torch.arange(seq_len + 1)  # (L + 1,)

    def __len__(self) -> int:
        return 2**62  # addressed by batch number; the sampler decides how many an epoch has

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        starts = torch.randint(0, len(self.tokens) - self.seq_len, (self.batch_size,), generator=generator)
        x = self.tokens[starts[:, None] + self.offsets]  # (B, L + 1), one gather
        labels = x[:, 1:].clone()
        if self.last_token_only:
            labels[:, :-1] = IGNORE
        return {"input_ids": x[:, :-1], "attention_mask": torch.ones_like(labels, dtype=torch.bool), "labels": labels}


class BatchNumbers(DistributedSampler):
    """The run's batch numbers for one process: n a epoch, each number drawn by one process only.

    With W processes, process r takes numbers (epoch·n + k)·W + r for k < n; with one, epoch·n … epoch·n + n − 1.
    Lightning's set_epoch moves it along. It is a DistributedSampler so that under DDP Lightning keeps it
    rather than wrapping it in one that would replay the first epoch's numbers.
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1, epochs_matter: bool = True) -> None:
        # DistributedSampler's own __init__ wants a dataset; nothing of it is used here.
        self.n, self.rank, self.world_size, self.epochs_matter, self.epoch = n, rank, world_size, epochs_matter, 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_next_pass(self, n: int) -> None:
        """The next pass leaves out its first `n` numbers (a run resumed mid-epoch: datamodules/resumable.py)."""
        self._skip = n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        skip, self._skip = self._skip, 0
        first = self.epoch * self.n if self.epochs_matter else 0
        return iter((first + k) * self.world_size + self.rank for k in range(skip, self.n))


class Windows(Dataset):
    """Windows of L tokens that together score every token of `tokens` (but the first) exactly once.

    Consecutive windows overlap by L − stride tokens; a window scores only the targets no earlier window
    scored, so all but the first window's targets have at least L − stride tokens of context.
    """

    def __init__(self, tokens: Tensor, seq_len: int, stride: int | None = None) -> None:
        n = len(tokens) - 1  # predictions: tokens[1:] from tokens[:-1]
        if n < 1:
            raise ValueError("a split needs at least two tokens to score")
        seq_len = min(seq_len, n)
        stride = stride or max(1, seq_len // 2)
        starts = list(range(0, n - seq_len + 1, stride))
        if starts[-1] != n - seq_len:
            starts.append(n - seq_len)
        self.tokens, self.seq_len, self.starts = tokens, seq_len, starts

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        start = self.starts[i]
        x = self.tokens[start : start + self.seq_len + 1]
        labels = x[1:].clone()
        if i > 0:  # targets up to the previous window's end are already scored
            seen = self.starts[i - 1] + self.seq_len - start
            labels[:seen] = IGNORE
        return {"input_ids": x[:-1], "attention_mask": torch.ones(self.seq_len, dtype=torch.bool), "labels": labels}


class LanguageModelDataModule(TextData, L.LightningDataModule):
    """A subclass provides `build_encoder` and `split_tokens` (1-D LongTensors for train, val and test)."""

    def __init__(
        self,
        seq_len: int = 128,
        batch_size: int = 32,
        batches_per_epoch: int = 500,
        last_token_batches: int = 1000,
        eval_batch_size: int | None = None,
        seed: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (
            ("seq_len", seq_len),
            ("batch_size", batch_size),
            ("batches_per_epoch", batches_per_epoch),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if last_token_batches < 0:
            raise ValueError(f"last_token_batches must be 0 (no last-token estimate) or more, got {last_token_batches}")
        self.seq_len, self.batch_size, self.batches_per_epoch = seq_len, batch_size, batches_per_epoch
        self.last_token_batches, self.eval_batch_size = last_token_batches, eval_batch_size or batch_size
        self.seed, self.num_workers = seed, num_workers
        self.splits: dict[str, Tensor] = {}

    def split_tokens(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def corpus_name(self) -> str:
        """What the corpus is read from (its file), as errors name it."""
        return type(self).__name__

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            splits = self.split_tokens()
            total = sum(len(tokens) for tokens in splits.values())
            for split, tokens in splits.items():  # a too-short corpus fails here, clearly, not in a loader
                if len(tokens) < self.seq_len + 1:
                    raise InputError(
                        f"{self.corpus_name()}: the {split} split has {len(tokens)} tokens, fewer than one slice of "
                        f"{self.seq_len + 1}: use a longer text ({total} tokens in all) or a smaller seq_len"
                    )
            self.splits = splits

    def _seed(self) -> int:
        return global_seed() if self.seed is None else self.seed

    def _loader(
        self, dataset: Dataset, sampler: Sampler | None = None, batched: bool = True, resumable: bool = False
    ) -> DataLoader:
        batch_size = None if batched else self.eval_batch_size  # RandomSlices items are whole batches
        return (ResumableDataLoader if resumable else DataLoader)(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def _process(self) -> tuple[int, int]:
        """(rank, world size) of this process."""
        return (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        slices = RandomSlices(self.splits["train"], self.seq_len, self.batch_size, self._seed())
        return self._loader(slices, BatchNumbers(self.batches_per_epoch, *self._process()), resumable=True)

    def val_dataloader(self) -> list[DataLoader]:
        windows = self._loader(Windows(self.splits["val"], self.seq_len), batched=False)
        if self.last_token_batches == 0:
            return [windows]
        last = RandomSlices(self.splits["val"], self.seq_len, self.eval_batch_size, seed=12345, last_token_only=True)
        numbers = BatchNumbers(self.last_token_batches, *self._process(), epochs_matter=False)
        return [windows, self._loader(last, numbers)]

    def test_dataloader(self) -> DataLoader:
        return self._loader(Windows(self.splits["test"], self.seq_len), batched=False)

    def sample_prompt(self, length: int = 16, generator: torch.Generator | None = None) -> Tensor:
        """`length` consecutive tokens from a random place of the validation text: a seed for sampling."""
        self.setup()
        val = self.splits["val"]
        start = int(torch.randint(0, max(1, len(val) - length), (1,), generator=generator))
        return val[start : start + length]

    def split_by_position(self, tokens: Tensor, fractions: tuple[float, float, float] = (0.9, 0.05, 0.05)):
        """train / val / test as consecutive stretches of the stream (90/5/5 by default)."""
        n = len(tokens)
        a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
        return {"train": tokens[:a], "val": tokens[a:b], "test": tokens[b:]}
