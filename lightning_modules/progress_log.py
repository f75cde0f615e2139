"""Progress as plain log lines, for runs whose output is not a terminal: `nohup … > run.log`, a batch scheduler,
CI. Lightning's progress bar redraws one line of a terminal; written to a file, the rich bar leaves nothing and
the tqdm bar a stream of carriage returns, so a long run in a log shows nothing between its model summary and its
end. This callback writes a line every `every_n_seconds` instead:

    epoch 1/2 · batch 120/704 · step 120 · 2.68 s/batch · epoch done in 0:26:06 · train/loss 0.3120
    validation at step 175 (epoch 1/2): val/acc 0.8868 · val/loss 0.2736 · 94 s
    test · batch 300/782 · 0.41 s/batch · done in 0:03:17

s/batch leaves validation out, so the epoch's remaining time reads the training batches only. A validation pass
gets one line at its end with its metrics (the sanity check none); test, validate and predict runs a line per
interval and their time at the end (Lightning prints their metrics in a table of its own). Lines go through
Lightning's rank-zero logger, so under DDP one process writes them.

when: `auto` writes lines in place of the progress bar where it cannot draw itself: when standard output is
not a terminal (nor a notebook's kernel) and the trainer has a bar (`enable_progress_bar: false`, as tune.py's
trials and the notebooks set, means quiet); `always` writes them whatever the output; `never` turns them off.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import timedelta
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info

When = Literal["auto", "always", "never"]


def output_is_shown_live() -> bool:
    """Whether a progress bar can draw itself: standard output is a terminal, or this is a notebook's kernel."""
    return sys.stdout.isatty() or "ipykernel" in sys.modules


def clock(seconds: float) -> str:
    """0:26:06 for 1566.4 seconds."""
    return str(timedelta(seconds=round(seconds)))


def of_total(index: int, total: float | int | None) -> str:
    """'120/704', or '120' when the total is unknown (an iterable dataset without a length)."""
    return f"{index}/{int(total)}" if total is not None and math.isfinite(total) and total > 0 else str(index)


def metric_text(metrics: dict[str, Any], prefix: str = "") -> str:
    """'val/acc 0.8868 · val/loss 0.2736': the scalar metrics whose names start with `prefix`, sorted by name."""
    shown = []
    for name in sorted(metrics):
        value = metrics[name]
        if not name.startswith(prefix) or getattr(value, "numel", lambda: 1)() != 1:
            continue
        shown.append(f"{name} {float(value):.4f}")
    return " · ".join(shown)


def joined(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


class ProgressLog(Callback):
    """A log line every `every_n_seconds` of training, testing or prediction, and one per validation pass.

    every_n_seconds: the least wall-clock time between two progress lines of one loop (0: every batch).
    when: `auto` (only in place of a progress bar that cannot draw itself), `always`, or `never`.
    """

    def __init__(self, every_n_seconds: float = 60.0, when: When = "auto") -> None:
        if every_n_seconds < 0:
            raise ValueError(f"every_n_seconds must be 0 or more, got {every_n_seconds}")
        if when not in ("auto", "always", "never"):
            raise ValueError(f"when must be auto, always or never, got {when!r}")
        self.every_n_seconds = every_n_seconds
        self.when = when
        self._last_line = -math.inf
        self._loop_started = 0.0
        self._first_batch = 0
        self._validation_seconds = 0.0  # of validation passes inside the current training epoch
        self._validation_started = self._evaluation_started = self._previous_batch_end = 0.0
        self._loader = 0  # the evaluation loader whose batches are being counted
        self._enabled = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Decides once per run whether lines are written, not at every batch."""
        if self.when == "auto":  # where a bar would draw, or none is wanted (enable_progress_bar: false), no lines
            self._enabled = trainer.progress_bar_callback is not None and not output_is_shown_live()
        else:
            self._enabled = self.when == "always"

    def _due(self, last_batch: bool) -> bool:
        now = time.perf_counter()
        if not last_batch and now - self._last_line < self.every_n_seconds:
            return False
        self._last_line = now
        return True

    def _epoch_text(self, trainer: L.Trainer) -> str:
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs > 0 else None
        return f"epoch {of_total(trainer.current_epoch + 1, max_epochs)}"

    def _step_text(self, trainer: L.Trainer) -> str:
        max_steps = trainer.max_steps if trainer.max_steps > 0 else None
        return f"step {of_total(trainer.global_step, max_steps)}"

    def _pace(self, batch_idx: int, total: float | int | None, seconds: float) -> tuple[str, str]:
        """('2.68 s/batch' or '12.3 ms/batch', 'done in 0:26:06') from the batches this process ran in the loop."""
        done = batch_idx + 1 - self._first_batch
        if done <= 0:
            return "", ""
        per_batch = seconds / done
        left = ""
        if total is not None and math.isfinite(total):
            left = f"done in {clock(per_batch * max(int(total) - batch_idx - 1, 0))}"
        pace = f"{per_batch:.2f} s/batch" if per_batch >= 0.1 else f"{per_batch * 1000:.1f} ms/batch"
        return pace, left

    # Training

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._loop_started = time.perf_counter()
        self._validation_seconds = 0.0
        self._first_batch = -1  # set at the first batch: a run resumed mid-epoch starts past batch 0
        self._last_line = -math.inf

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._first_batch < 0:
            self._first_batch = batch_idx
            self._loop_started = time.perf_counter()
            self._last_line = time.perf_counter()  # the first line after one interval, not after one batch

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        total = trainer.num_training_batches
        last_batch = math.isfinite(total) and batch_idx + 1 >= total
        if not self._enabled or not self._due(last_batch):
            return
        seconds = time.perf_counter() - self._loop_started - self._validation_seconds
        pace, left = self._pace(batch_idx, total, seconds)
        metrics = metric_text(trainer.progress_bar_metrics)
        rank_zero_info(
            joined(
                self._epoch_text(trainer),
                f"batch {of_total(batch_idx + 1, total)}",
                self._step_text(trainer),
                pace,
                f"epoch {left}" if left else "",
                metrics,
            )
        )

    # Validation: one line a pass

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_started = time.perf_counter()
        if trainer.state.fn != TrainerFn.FITTING:  # trainer.validate(): a loop of its own
            self._start_evaluation()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.perf_counter() - self._validation_started
        if trainer.sanity_checking:
            return
        if trainer.state.fn == TrainerFn.FITTING:
            self._validation_seconds += seconds
            if self._enabled:
                rank_zero_info(
                    f"validation at {self._step_text(trainer)} ({self._epoch_text(trainer)}): "
                    + joined(metric_text(trainer.callback_metrics, "val"), f"{seconds:.0f} s")
                )
        else:
            self._evaluation_end("validate")

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            self._evaluation_batch("validate", trainer.num_val_batches, batch_idx, dataloader_idx)

    # Test and predict

    def _start_evaluation(self, *hook_arguments: Any) -> None:
        """The start of an evaluation loop of its own: test, predict, or validate outside fit."""
        self._evaluation_started = self._loop_started = self._previous_batch_end = time.perf_counter()
        self._last_line = self._loop_started
        self._first_batch = self._loader = 0

    on_test_start = on_predict_start = _start_evaluation

    def _evaluation_end(self, name: str) -> None:
        if self._enabled:  # Lightning prints the metrics of validate and test in a table of its own
            rank_zero_info(f"{name} done in {clock(time.perf_counter() - self._evaluation_started)}")

    def _evaluation_batch(self, name: str, totals: list[float | int], batch_idx: int, dataloader_idx: int) -> None:
        if dataloader_idx != self._loader:  # batch_idx counts each loader from 0: so does the pace
            self._loader, self._loop_started = dataloader_idx, self._previous_batch_end
        self._previous_batch_end = time.perf_counter()
        total = totals[dataloader_idx] if dataloader_idx < len(totals) else None
        last_batch = total is not None and math.isfinite(total) and batch_idx + 1 >= total
        if not self._enabled or not self._due(last_batch):
            return
        loader = f"loader {dataloader_idx}" if len(totals) > 1 else ""
        pace, left = self._pace(batch_idx, total, time.perf_counter() - self._loop_started)
        rank_zero_info(joined(name, loader, f"batch {of_total(batch_idx + 1, total)}", pace, left))

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._evaluation_batch("test", trainer.num_test_batches, batch_idx, dataloader_idx)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluation_end("test")

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluation_end("predict")

    def on_predict_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._evaluation_batch("predict", trainer.num_predict_batches, batch_idx, dataloader_idx)
