"""What a run cost, logged by the run itself: training and evaluation wall-clock, peak memory, trainable parameters.

report.py reads these scalars from the run's logs, so a report never re-runs anything. Every logger of the
trainer receives them (TensorBoard, CSV, …), on the global rank zero only, at the trainer's global step:

- `cost/trainable_params`: the number of parameters with requires_grad, at fit start; logged again at the start
  or end of an epoch where it changed (a frozen encoder unfrozen after the first epoch, by a callback or by the
  model's own hooks, which run after the callbacks'), so the last value is what the rest of the run trained.
- `cost/train_seconds`: training wall-clock so far, from the start of training (after the sanity check) with
  every validation pass left out; logged at each validation end and each training epoch end, so its last value is
  the run's total. A resumed run continues the count of its checkpoint.
- `cost/eval_seconds`: the wall-clock of each validation pass (not the sanity check), at its end.
- `cost/peak_memory_mb`: the peak so far, logged with train_seconds. On a GPU, `torch.cuda.max_memory_allocated`
  with the peak reset after the first `steady_after_batches` training batches: by then the optimiser's state and
  the allocator's working set exist, and the one-off allocations of the first steps are left out (steady state).
  On a CPU, the peak resident set size of the process (`ru_maxrss`), which cannot be reset: it includes
  everything the process loaded, data and libraries too.
- `cost/on_cuda`: 1 when peak_memory_mb is CUDA memory, 0 when it is the resident set; logged at fit start.

Timing is per process and uses the wall clock (time.perf_counter), so under DDP rank zero's figures are logged.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

TRAINABLE_PARAMS = "cost/trainable_params"
TRAIN_SECONDS = "cost/train_seconds"
EVAL_SECONDS = "cost/eval_seconds"
PEAK_MEMORY_MB = "cost/peak_memory_mb"
ON_CUDA = "cost/on_cuda"
COST_TAGS = (TRAINABLE_PARAMS, TRAIN_SECONDS, EVAL_SECONDS, PEAK_MEMORY_MB, ON_CUDA)


def trainable_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def peak_resident_mb() -> float:
    """The process's peak resident set size in MB (ru_maxrss: kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class Stopwatch:
    """Accumulates the seconds between start() and stop() calls; stop() on a stopped watch changes nothing."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self._since: float | None = None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self.seconds += time.perf_counter() - self._since
            self._since = None

    def read(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self.seconds + running


class RunCosts(Callback):
    """Logs `cost/*` scalars (this module's docstring says which and when).

    steady_after_batches: on a GPU, training batches after which the peak-memory counter is reset.
    """

    def __init__(self, steady_after_batches: int = 2) -> None:
        self.steady_after_batches = steady_after_batches
        self._training = Stopwatch()
        self._evaluating = Stopwatch()
        self._batches_seen = 0
        self._trainable: int | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self._training.read()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._training = Stopwatch(state_dict["train_seconds"])

    def _log(self, trainer: L.Trainer, metrics: dict[str, float]) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def _peak_memory_mb(self, pl_module: L.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            return torch.cuda.max_memory_allocated(pl_module.device) / 2**20
        return peak_resident_mb()

    def _log_progress(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, {TRAIN_SECONDS: self._training.read(), PEAK_MEMORY_MB: self._peak_memory_mb(pl_module)})

    def _log_trainable_if_changed(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        count = trainable_parameters(pl_module)
        if count != self._trainable:
            self._trainable = count
            self._log(trainer, {TRAINABLE_PARAMS: float(count)})

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, {ON_CUDA: float(pl_module.device.type == "cuda")})
        self._log_trainable_if_changed(trainer, pl_module)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._training.start()  # after the sanity check

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log_trainable_if_changed(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._batches_seen += 1
        if self._batches_seen == self.steady_after_batches and pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._training.stop()
        self._evaluating = Stopwatch()
        self._evaluating.start()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._evaluating.stop()
        self._log(trainer, {EVAL_SECONDS: self._evaluating.seconds})
        if trainer.state.fn == TrainerFn.FITTING:  # `trainer.validate` alone has no training to time
            self._log_progress(trainer, pl_module)
            self._training.start()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log_trainable_if_changed(trainer, pl_module)
        self._log_progress(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._training.stop()
