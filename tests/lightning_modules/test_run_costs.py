"""RunCosts: every CLI run logs its training and evaluation wall-clock, peak memory and trainable parameters."""

import json
import resource
import time
from itertools import pairwise
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_modules.cli import LabCLI
from lightning_modules.run_costs import EVAL_SECONDS, ON_CUDA, PEAK_MEMORY_MB, TRAIN_SECONDS, TRAINABLE_PARAMS, RunCosts

ROOT = Path(__file__).resolve().parents[2]
XOR = str(ROOT / "configs/xor/transformer.yaml")
SMALL = ["--data.init_args.train_size", "256", "--data.init_args.val_size", "128",
         "--data.init_args.test_size", "64", "--trainer.enable_progress_bar", "false"]  # fmt: skip
TRAIN_SLEEP, VAL_SLEEP, EXTRA_MB = 0.3, 0.4, 64


def resident_mb() -> float:
    """The process's current resident set size in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class KnownCosts(Callback):
    """Makes the costs known: sleeps in the first training batch of each epoch and in the first batch of each
    validation, and in the first training batch holds a tensor that takes the resident memory EXTRA_MB above
    the process's peak before the fit."""

    def __init__(self) -> None:
        self.peak_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.held = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == 0:
            time.sleep(TRAIN_SLEEP)
        if self.held is None:
            megabytes = max(self.peak_before_mb - resident_mb(), 0) + EXTRA_MB  # at most EXTRA_MB above an earlier peak
            self.held = torch.ones(int(megabytes * 2**20) // 4)  # written, so resident

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.held = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            time.sleep(VAL_SLEEP)


def scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_cli_run_logs_its_costs_with_the_values_they_had(cli_in_tmp_path):
    known = json.dumps([{"class_path": f"{__name__}.KnownCosts"}])
    started = time.perf_counter()
    cli = LabCLI(args=["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "2", "--trainer.callbacks", known])
    wall = time.perf_counter() - started
    logged = scalars(cli.trainer.log_dir)
    known_costs = next(c for c in cli.trainer.callbacks if isinstance(c, KnownCosts))

    expected_params = sum(p.numel() for p in cli.model.parameters() if p.requires_grad)
    assert [v for _, v in logged[TRAINABLE_PARAMS]] == [expected_params]

    evals = [v for _, v in logged[EVAL_SECONDS]]
    assert len(evals) == 2 and all(v >= VAL_SLEEP for v in evals), evals  # two epochs; the sanity check left out

    train = [v for _, v in logged[TRAIN_SECONDS]]
    assert all(a < b for a, b in pairwise(train)), train
    assert train[-1] >= 2 * TRAIN_SLEEP
    assert train[-1] + sum(evals) <= wall  # validation is not training time: both fit in the fit's wall-clock
    assert [s for s, _ in logged[TRAIN_SECONDS]][-1] == cli.trainer.global_step

    assert [v for _, v in logged[ON_CUDA]] == [0.0]  # the resident set: this run is on the CPU
    peaks = [v for _, v in logged[PEAK_MEMORY_MB]]
    assert peaks[-1] >= known_costs.peak_before_mb + EXTRA_MB
    assert peaks[-1] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class FrozenFirstEpoch(Callback):
    """Freezes the token embeddings before training and unfreezes them when the second epoch starts."""

    def on_fit_start(self, trainer, pl_module) -> None:
        pl_module.network.encoder.tok_emb.weight.requires_grad_(False)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 1:
            pl_module.network.encoder.tok_emb.weight.requires_grad_(True)


def test_the_trainable_parameters_are_logged_again_when_they_change(cli_in_tmp_path):
    frozen = json.dumps([{"class_path": f"{__name__}.FrozenFirstEpoch"}])
    cli = LabCLI(args=["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "2", "--trainer.callbacks", frozen])
    everything = sum(p.numel() for p in cli.model.parameters())
    embeddings = cli.model.network.encoder.tok_emb.weight.numel()
    assert [v for _, v in scalars(cli.trainer.log_dir)[TRAINABLE_PARAMS]] == [everything - embeddings, everything]


def test_a_resumed_run_continues_the_training_seconds_of_its_checkpoint():
    costs = RunCosts()
    costs.load_state_dict({"train_seconds": 12.5})
    assert costs.state_dict() == {"train_seconds": pytest.approx(12.5)}


class CudaAllocations(Callback):
    """A 1 GiB tensor freed within the first training batch (before the steady state), then from the second
    epoch on a 256 MiB tensor held to the epoch's end."""

    def __init__(self) -> None:
        self.held = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 1:
            torch.ones(2**28, device=pl_module.device)  # 1 GiB of float32, freed at once
        if trainer.current_epoch == 1 and self.held is None:
            self.held = torch.ones(2**26, device=pl_module.device)  # 256 MiB

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.held = None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_the_peak_is_the_steady_state_cuda_memory(cli_in_tmp_path):
    allocations = json.dumps([{"class_path": f"{__name__}.CudaAllocations"}])
    cli = LabCLI(args=["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "2", "--trainer.accelerator", "gpu",
                       "--trainer.devices", "1", "--trainer.callbacks", allocations])  # fmt: skip
    logged = scalars(cli.trainer.log_dir)
    assert [v for _, v in logged[ON_CUDA]] == [1.0]
    peak = max(v for _, v in logged[PEAK_MEMORY_MB])
    assert 256 <= peak < 1024  # the held tensor counts; the one of the first batch (before the reset) does not
