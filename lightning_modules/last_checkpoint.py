"""The run's checkpoint callback: the best checkpoints by the monitored metric, and a last.ckpt that is last.

Lightning's `save_last=True` copies the state to last.ckpt only when it writes a best checkpoint, so once the
metric stops improving last.ckpt stops moving: a finished run's last.ckpt is not its final weights, and
`--ckpt_path last` re-trains everything since the last improvement. Here last.ckpt is the latest state, written

- after every validation (whatever the metric did) and every `every_n_train_steps` steps;
- at the end of every training epoch, so a run without validation has one too;
- when training ends (max_steps, max_time, early stopping: the final weights);
- when the run is interrupted (SIGTERM from `kill`, `timeout`, SLURM or Kubernetes; Ctrl-C): the state of that
  moment, between two steps, which `--ckpt_path last` resumes exactly (lightning_modules/cli.py then exits
  with status 143 for SIGTERM, 1 for Ctrl-C, so a scheduler does not take the run as done).

The best-k checkpoints are Lightning's own, chosen as before; last.ckpt records which is best (`--ckpt_path best`
reads it there). Writes go through the trainer's checkpoint IO (atomic: lightning_modules/checkpoints.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal
from weakref import proxy

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

INTERRUPTIONS = (SIGTERMException, KeyboardInterrupt)


class BestAndLastCheckpoint(ModelCheckpoint):
    """ModelCheckpoint (every argument is Lightning's) whose `save_last` keeps last.ckpt at the latest state."""

    def __init__(
        self,
        *args: Any,
        save_last: bool | Literal["link"] | None = None,
        every_n_train_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        # Lightning's own copy to last.ckpt (only beside a best) is replaced by the writes below.
        super().__init__(*args, save_last=False, every_n_train_steps=every_n_train_steps, **kwargs)
        self.keeps_last, self.every_n_train_steps = bool(save_last), every_n_train_steps or 0
        self._last_written_step: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any) -> None:
        before = self._best_record()
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)
        if self.every_n_train_steps > 0 and trainer.global_step % self.every_n_train_steps == 0:
            self.write_last(trainer, best_changed=self._best_record() != before)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        before = self._best_record()
        super().on_validation_end(trainer, pl_module)
        self.write_last(trainer, best_changed=self._best_record() != before)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # With one validation per epoch Lightning picks the best here, after the validation's hook.
        before = self._best_record()
        super().on_train_epoch_end(trainer, pl_module)
        self.write_last(trainer, best_changed=self._best_record() != before)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.write_last(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        if isinstance(exception, INTERRUPTIONS) and self.write_last(trainer, interrupted=True):
            what = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
            print(
                f"{what} at step {trainer.global_step}: saved {self.last_model_path}; continue with --ckpt_path last",
                file=sys.stderr,
            )

    def _best_record(self) -> tuple[str, dict]:
        return self.best_model_path, dict(self.best_k_models)

    def write_last(self, trainer: L.Trainer, interrupted: bool = False, best_changed: bool = False) -> bool:
        """Writes last.ckpt unless it already holds this step and the same best (or this is no time to: sanity
        check, not fitting, fast_dev_run, no step taken). Whether it wrote."""
        fitting = trainer.state.fn == "fit" and not trainer.sanity_checking and not trainer.fast_dev_run
        if not self.keeps_last or not fitting or (trainer.global_step == 0 and not interrupted):
            return False
        if self._last_written_step == trainer.global_step and not best_changed:
            return interrupted  # the state of this moment is already there
        path = Path(self.format_checkpoint_name({}, self.CHECKPOINT_NAME_LAST))
        self.last_model_path = str(path)  # before saving: it is part of the state saved
        trainer.save_checkpoint(path, self.save_weights_only)
        self._last_written_step = trainer.global_step
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))
        return True
