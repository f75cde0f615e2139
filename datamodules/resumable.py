"""A training DataLoader that resumes mid-epoch at the batch where the run stopped.

Lightning saves the `state_dict()` of every training loader that has one in the checkpoint and hands it back to
`load_state_dict()` when a run resumes. Here the state is the epoch and how many of its batches were served;
the resumed pass of that epoch then leaves those batches out without loading them: its sampler starts further on
(`skip_next_pass(n)`, which EpochShuffleSampler, BucketBatchSampler and the language models' BatchNumbers have).
The samplers' order depends on (seed, epoch) alone, so the batches that follow are the ones an uninterrupted run
would have drawn, in the same order.

A pass starts at its first batch, not when its iterator is made: Lightning makes the resumed epoch's iterator
before it calls set_epoch on the samplers, and the order must be that of the epoch being resumed. The loader's
length stays the whole epoch's, as Lightning expects of a resumed stateful loader (it counts the batches already
done). A sampler without `skip_next_pass` (one Lightning put in for several processes) cannot start further on:
that epoch then starts again from its first batch, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader


class ResumableDataLoader(DataLoader):
    """DataLoader with `state_dict` / `load_state_dict`: its place in the epoch, for exact mid-epoch resumption."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._served = 0  # batches of the current pass handed out (skipped ones included)
        self._pass_epoch: int | None = None
        self._resume: dict[str, Any] | None = None

    def _place_holder(self) -> tuple[Any, int]:
        """The sampler that can start further on, and how many of its items one batch is."""
        if hasattr(self.batch_sampler, "skip_next_pass"):
            return self.batch_sampler, 1
        per_batch = 1 if self.batch_size is None else self.batch_size  # batch_size None: an item is a batch
        return self.sampler, per_batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self._pass_epoch, "batches": self._served}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume = dict(state_dict)

    def __iter__(self) -> Iterator[Any]:
        return self._pass()

    def _pass(self) -> Iterator[Any]:
        holder, per_batch = self._place_holder()
        self._pass_epoch, self._served = getattr(holder, "epoch", None), 0
        resume, self._resume = self._resume, None
        if resume and resume.get("epoch") == self._pass_epoch and 0 < resume.get("batches", 0) < len(self):
            if hasattr(holder, "skip_next_pass"):
                holder.skip_next_pass(resume["batches"] * per_batch)
                self._served = resume["batches"]
            else:
                rank_zero_warn(
                    f"resuming mid-epoch with a {type(holder).__name__}, which cannot start further on: "
                    f"epoch {self._pass_epoch} starts again from its first batch"
                )
        for batch in super().__iter__():
            self._served += 1
            yield batch
