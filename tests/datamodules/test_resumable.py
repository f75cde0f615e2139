"""A training loader resumed mid-epoch serves the rest of that epoch's batches, in order, and nothing else."""

import pytest
import torch
from torch.utils.data import TensorDataset

from datamodules.batching import BucketBatchSampler, EpochShuffleSampler
from datamodules.lm import BatchNumbers
from datamodules.resumable import ResumableDataLoader

DATA = TensorDataset(torch.arange(40))


def loaders():
    return {
        "shuffled": lambda: ResumableDataLoader(DATA, batch_size=6, sampler=EpochShuffleSampler(40, seed=3)),
        "bucketed": lambda: ResumableDataLoader(DATA, batch_sampler=BucketBatchSampler(list(range(40)), 6, seed=3)),
        "batch numbers": lambda: ResumableDataLoader(DATA, batch_size=None, sampler=BatchNumbers(7)),
    }


def one_epoch(loader, epoch: int, stop: int | None = None) -> list[list[int]]:
    """The batches of `epoch` as Lightning draws them (set_epoch, then iterate), the first `stop` only."""
    for sampler in (loader.sampler, getattr(loader.batch_sampler, "sampler", None)):
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
    batches = []
    for batch in loader:
        batches.append(torch.atleast_1d(batch[0]).tolist())
        if stop is not None and len(batches) == stop:
            break
    return batches


@pytest.mark.parametrize("kind", ["shuffled", "bucketed", "batch numbers"])
def test_a_loader_resumed_mid_epoch_serves_the_rest_of_that_epoch(kind):
    make = loaders()[kind]
    straight = make()
    epochs = [one_epoch(straight, epoch) for epoch in range(3)]
    assert epochs[1] != epochs[2]  # the order depends on the epoch

    interrupted = make()
    one_epoch(interrupted, 0)
    seen = one_epoch(interrupted, 1, stop=3)
    state = interrupted.state_dict()
    assert state == {"epoch": 1, "batches": 3}

    resumed = make()
    resumed.load_state_dict(state)
    assert len(resumed) == len(straight)  # Lightning counts the batches done itself
    rest = one_epoch(resumed, 1)
    assert seen + rest == epochs[1] and len(rest) == len(straight) - 3
    assert resumed.state_dict() == {"epoch": 1, "batches": len(straight)}
    assert one_epoch(resumed, 2) == epochs[2]  # the skip applied to one pass only


def test_a_state_of_another_epoch_or_of_a_finished_one_changes_nothing():
    make = loaders()["shuffled"]
    whole = one_epoch(make(), 2)
    for state in ({"epoch": 1, "batches": 3}, {"epoch": 2, "batches": len(make())}, {"epoch": 2, "batches": 0}):
        resumed = make()
        resumed.load_state_dict(state)
        assert one_epoch(resumed, 2) == whole


def test_a_sampler_that_cannot_skip_starts_the_epoch_again_with_a_warning():
    resumed = ResumableDataLoader(DATA, batch_size=6, shuffle=False)
    resumed.load_state_dict({"epoch": None, "batches": 2})
    with pytest.warns(UserWarning, match="starts again from its first batch"):
        assert len(list(resumed)) == len(resumed)
