"""Callbacks every run gets from the CLI (lightning_modules/cli.py lists them; `--print_config` shows them)."""

from __future__ import annotations

import inspect
import random
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger

from lightning_modules import logger_runs


def collect_rng_states() -> dict[str, Any]:
    """Every generator's state, as tensors and plain numbers so checkpoints load with weights_only=True."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RandomState(Callback):
    """Stores every random generator's state in checkpoints and restores it when a resumed run starts
    training, so it draws the same shuffles and dropout masks as a run that was never interrupted.

    Restoring at on_train_start, not at load time, matters: the sanity-check validation that a resumed run
    performs first would otherwise consume random numbers the uninterrupted run never drew.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": collect_rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict["rng"]

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None


class TrainLoaderPlace(Callback):
    """Stores where the training loader is in its epoch and gives it back when a run resumes, so a run resumed
    mid-epoch goes on with the batch it would have drawn next (datamodules/resumable.py), not the epoch's first.

    Lightning saves a stateful training loader's state itself but restores it only when nothing built the
    loader before the checkpoint was read, and a learning-rate schedule that asks for
    `trainer.estimated_stepping_batches` (the lab's do) builds it first (Lightning issue 20550). Here the state
    is restored at on_train_start: after the loader exists, before it draws its first batch.
    """

    def __init__(self) -> None:
        self._trainer: L.Trainer | None = None
        self._pending: list[dict[str, Any]] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def _stateful_loaders(self) -> list[Any]:
        loaders = self._trainer.train_dataloader if self._trainer is not None else None
        flat = (
            loaders if isinstance(loaders, list) else list(loaders.values()) if isinstance(loaders, dict) else [loaders]
        )
        return [loader for loader in flat if hasattr(loader, "state_dict") and hasattr(loader, "load_state_dict")]

    def state_dict(self) -> dict[str, Any]:
        return {"loaders": [loader.state_dict() for loader in self._stateful_loaders()]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict.get("loaders")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pending, self._pending = self._pending, None
        loaders = self._stateful_loaders()
        if pending and len(pending) == len(loaders):
            for loader, state in zip(loaders, pending, strict=True):
                loader.load_state_dict(state)


class HParamsSummary(Callback):
    """Shows each run in TensorBoard's HParams tab with the best value of the monitored metric, so runs
    of different hyperparameters compare in one table (other loggers have no such tab: they are skipped)."""

    def _targets(self, trainer: L.Trainer) -> tuple[list[TensorBoardLogger], ModelCheckpoint | None]:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        return loggers, trainer.checkpoint_callback if trainer.checkpoint_callback else None

    def _tag(self, checkpoint: ModelCheckpoint) -> str:
        return f"hp/best_{checkpoint.monitor.replace('/', '_')}"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers, checkpoint = self._targets(trainer)
        if checkpoint is None or checkpoint.monitor is None:
            return
        for logger in loggers:
            logger.log_hyperparams(pl_module.hparams_initial, {self._tag(checkpoint): float("nan")})

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # ModelCheckpoint runs after every other callback, so its best may not include this validation yet:
        # the best is the better of its record and this validation's value.
        loggers, checkpoint = self._targets(trainer)
        if trainer.sanity_checking or checkpoint is None or checkpoint.monitor not in trainer.callback_metrics:
            return
        current = float(trainer.callback_metrics[checkpoint.monitor])
        recorded = checkpoint.best_model_score
        best = current
        if recorded is not None and not torch.isnan(recorded):
            best = (max if checkpoint.mode == "max" else min)(current, float(recorded))
        for logger in loggers:
            logger.log_metrics({self._tag(checkpoint): best}, trainer.global_step)


class LearningRateLogging(LearningRateMonitor):
    """Lightning's LearningRateMonitor (every step), idle in a run without a logger instead of refusing it, so
    the CLI can always list it."""

    def __init__(self, logging_interval: Literal["step", "epoch"] | None = "step", log_momentum: bool = False) -> None:
        super().__init__(logging_interval=logging_interval, log_momentum=log_momentum)

    def on_train_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.loggers:
            super().on_train_epoch_start(trainer, *args, **kwargs)


class RemoveFailedRun(Callback):
    """A run that fails before saving any checkpoint is noise in the runs folder: its folder is removed when it
    holds only what this run wrote (a resumed run's folder, or one with earlier results, is kept).

    The test is by modification time because Lightning creates the logger's folder before any callback hook
    that could note whether it existed."""

    def __init__(self) -> None:
        self._started = time.time()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        folder = getattr(trainer.logger, "log_dir", None)  # the logger's own: trainer.log_dir would broadcast
        if logger_runs.keeps_own_runs(trainer.logger):
            folder = trainer.default_root_dir  # a W&B or MLflow run's folder (lightning_modules/logger_runs.py)
        if not trainer.is_global_zero or folder is None or not Path(folder).is_dir():
            return
        files = [p for p in Path(folder).rglob("*") if p.is_file()]
        if not any(p.suffix == ".ckpt" or p.stat().st_mtime < self._started for p in files):
            shutil.rmtree(folder, ignore_errors=True)


class LoadableHyperparameters(Callback):
    """Keeps in a checkpoint only the hyperparameters its model's class accepts.

    LightningCLI records every argument linked from the data module, also those the chosen model does not
    take (special_ids for a classifier, num_classes for a language model), and would pass them back as
    keyword arguments when the model is rebuilt from the checkpoint."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        hparams = checkpoint.get("hyper_parameters")
        parameters = inspect.signature(type(pl_module).__init__).parameters
        if not hparams or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        internal = {"_class_path", "_instantiator"}  # LightningCLI's own keys for rebuilding the model
        checkpoint["hyper_parameters"] = {k: v for k, v in hparams.items() if k in parameters or k in internal}


class PredictionWriter(BasePredictionWriter):
    """`train.py predict` writes a classifier's predictions.tsv beside the run: one row per line of the data
    module's `predict_path` (its line number, p(positive) — or, for more than two classes, the predicted class
    and every class's probability — and the text; a blank line is scored as an empty text), or, when it
    predicted the test split, one row per example (its number and decoded tokens)."""

    def __init__(self) -> None:
        super().__init__(write_interval="epoch")

    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: Any, batch_indices: Any
    ) -> None:
        from datamodules.classification import ClassificationDataModule

        probabilities = torch.cat([p for p in predictions if p is not None])
        datamodule = trainer.datamodule
        from_file = isinstance(datamodule, ClassificationDataModule) and "predict" in datamodule.datasets
        if from_file:
            texts, number = list(datamodule.predict_texts), "line"
        else:  # predicted the test split: show its tokens
            texts, number = [], "example"
            decode = datamodule.decode if isinstance(datamodule, ClassificationDataModule) else None
            for batch in trainer.predict_dataloaders:
                for ids, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True):
                    texts.append(" ".join(decode(ids[mask], skip_special=True)) if decode else "")
        if len(texts) != len(probabilities):
            raise RuntimeError(f"{len(probabilities)} predictions for {len(texts)} texts")
        out = Path(trainer.log_dir or trainer.default_root_dir) / "predictions.tsv"  # MLflow: no log_dir
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w") as f:
            f.writelines(line + "\n" for line in prediction_rows(probabilities, texts, number))
        print(f"{len(probabilities)} predictions written to {out}")


def prediction_rows(probabilities: torch.Tensor, texts: list[str], number: str = "line") -> list[str]:
    """predictions.tsv's lines for class probabilities (N, C): two classes give p(positive), as sentiment reads
    it; more give the predicted class and every class's probability. Texts are written on one line each."""
    binary = probabilities.shape[-1] == 2
    columns = ["p_positive"] if binary else ["class", *(f"p_{c}" for c in range(probabilities.shape[-1]))]
    rows = ["\t".join([number, *columns, "text"])]
    for i, (p, text) in enumerate(zip(probabilities.tolist(), texts, strict=True), start=1):
        values = [f"{p[-1]:.4f}"] if binary else [str(max(range(len(p)), key=p.__getitem__)), *(f"{q:.4f}" for q in p)]
        rows.append("\t".join([str(i), *values, " ".join(text.split())]))
    return rows


class SaveConfigBesideLogs(SaveConfigCallback):
    """Writes the resolved config.yaml into the logger's run folder; a run without a logger has no such
    folder, and its config would otherwise land in the working directory (Lightning's default_root_dir).

    A W&B or MLflow run's folder is the trainer's default_root_dir (Lightning's `trainer.log_dir` is for them a
    folder every run shares: lightning_modules/logger_runs.py), and the config also goes into the logger's run,
    whose id the folder records for `--ckpt_path last`; a W&B run is finished when the trainer is done."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.logger is None:
            return
        if not logger_runs.keeps_own_runs(trainer.logger):
            super().setup(trainer, pl_module, stage)
            return
        if self.already_saved:
            return
        if trainer.is_global_zero:
            folder = Path(trainer.default_root_dir)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / self.config_filename
            self.parser.save(
                self.config, str(path), skip_none=False, overwrite=self.overwrite, multifile=self.multifile
            )
            logger_runs.send_config(trainer.logger, path)
            logger_runs.record_run(trainer.logger, folder)
        self.already_saved = True

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger_runs.finish_run(logger)
