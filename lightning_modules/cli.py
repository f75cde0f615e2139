"""The one LightningCLI every entry point builds runs with (train.py, tune.py).

What it adds to LightningCLI:
- vocab_size, num_classes and pad_id flow from the data module into the model (when the model takes them);
- TensorBoard logs under runs/<task>/<experiment>/version_N, named after the config file;
- a configurable `checkpoint` (ModelCheckpoint: best by `checkpoint.monitor`, and last), learning-rate
  logging, exact resumption (random states are checkpointed), an HParams summary;
- `--ckpt_path last` / `--ckpt_path best` find the newest run of the experiment and continue in its folder;
- bad input ends in one line on stderr, and a run that fails before its first checkpoint leaves no folder.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

from datamodules.contract import require_text_data
from lightning_modules.callbacks import HParamsSummary, PredictionWriter, RandomState, SaveConfigBesideLogs

RUNS_DIR = "runs"
AUTO_NAME = "auto"  # the logger name that means "derive it from the config file's path"
LINKED_FROM_DATA = ("vocab_size", "num_classes", "pad_id", "special_ids")
# Errors that mean "the input is wrong", reported in one line; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    UnicodeDecodeError,
)


def _data_attribute(name: str):
    """The link from the data module's `name` (declared by datamodules.contract.TextData) into the model."""

    def read(datamodule: Any) -> Any:
        return getattr(require_text_data(datamodule, f"linking data.{name} into the model"), name)

    return read


def one_line(message: str) -> str:
    """The most specific line of a nested jsonargparse message, prefixed by the key it is about."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    key = next((m.group(1) for ln in lines if (m := re.search(r'[Kk]ey "([^"]+)"', ln))), None)
    noise = (
        "Does not validate against",
        "Expected a <class 'NoneType'>",
        "Given value",
        "- Problem with",
        "Parser key",
        "Subtypes:",
        "Errors:",
    )
    useful = [ln.lstrip("- ") for ln in lines if not any(n in ln for n in noise)]
    detail = useful[0] if useful else (lines[0] if lines else "invalid arguments")
    return f"{key}: {detail}" if key and key not in detail else detail


class ConfigError(ValueError):
    """A config that the parser rejects, raised instead of exiting when parsing only (parse_config)."""


class LabArgumentParser(LightningArgumentParser):
    """Reports a parse error in one line instead of the full usage text."""

    raise_errors = False  # parse_config sets it: callers then get a ConfigError to handle

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if self.raise_errors:
            raise ConfigError(one_line(message)) from ex
        if os.environ.get("LAB_DEBUG"):
            super().error(message, ex)
        sys.stderr.write(f"error: {one_line(message)}\n(see --help; LAB_DEBUG=1 shows the full message)\n")
        sys.exit(2)


class LabCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None, run: bool = True, **kwargs: Any) -> None:
        quiet_lightning()
        super().__init__(
            model_class=L.LightningModule,
            datamodule_class=L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults={
                "logger": {
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": RUNS_DIR, "name": AUTO_NAME, "default_hp_metric": False},
                }
            },
            save_config_callback=SaveConfigBesideLogs,
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,  # optimisers are injected into the models
            parser_class=LabArgumentParser,
            args=args,
            run=run,
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for name in LINKED_FROM_DATA:
            parser.link_arguments(
                "data", f"model.init_args.{name}", compute_fn=_data_attribute(name), apply_on="instantiate"
            )
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        logger = config.get("trainer", {}).get("logger")
        if _is_tensorboard(logger) and logger.init_args.name == AUTO_NAME:
            logger.init_args.name = experiment_name(config.get("config") or [])
        ckpt_path = config.get("ckpt_path")
        if ckpt_path in ("last", "best"):
            if not _is_tensorboard(logger):
                raise ValueError(f"--ckpt_path {ckpt_path} looks in the TensorBoard run folders; pass a file")
            found = find_checkpoint(Path(logger.init_args.save_dir) / logger.init_args.name, ckpt_path)
            if found is None and (ckpt_path == "best" or self.subcommand != "fit"):
                experiment = Path(logger.init_args.save_dir) / logger.init_args.name
                raise FileNotFoundError(f"no {ckpt_path} checkpoint under {experiment}")
            if found is None:
                print(
                    f"no checkpoint to resume under {logger.init_args.save_dir}/{logger.init_args.name}: "
                    "starting a new run",
                    file=sys.stderr,
                )
                config.ckpt_path = None
            else:
                config.ckpt_path = str(found)
                if self.subcommand == "fit":  # keep logging into the run being resumed
                    logger.init_args.version = found.parent.parent.name

    def _parse_ckpt_path(self) -> None:
        """As LightningCLI's, but keeps only the checkpoint hyperparameters the model's class accepts.

        The instantiator records every link target in the hyperparameters, also those the chosen model does
        not take (special_ids for a classifier, num_classes for a language model); LightningCLI would pass
        them back as keyword arguments when a run is resumed or evaluated from a checkpoint.
        """
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not Path(ckpt_path).is_file():
            return
        hparams = torch.load(ckpt_path, weights_only=True, map_location="cpu").get("hyper_parameters", {})
        hparams.pop("_instantiator", None)
        class_path = hparams.pop("_class_path", None)
        if not hparams or class_path is None:
            return
        module, _, name = class_path.rpartition(".")
        accepted = inspect.signature(getattr(importlib.import_module(module), name).__init__).parameters
        kwargs = {k: v for k, v in hparams.items() if k in accepted}
        self.config = self.parser.parse_object(
            {subcommand: {"model": {"class_path": class_path, "dict_kwargs": kwargs}}}, self.config
        )

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> L.Trainer:
        if config.get("enable_checkpointing") is False:  # then the `checkpoint` callback must not be added
            callbacks = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]
        return super()._instantiate_trainer(config, callbacks)

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        trainer.callbacks.append(RandomState())
        if self.subcommand == "predict":
            trainer.callbacks.append(PredictionWriter())
        if trainer.loggers:
            trainer.callbacks.append(HParamsSummary())
            if not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks):
                trainer.callbacks.append(LearningRateMonitor(logging_interval="step"))
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        logger = self.trainer.logger
        run_dir = Path(logger.log_dir) if isinstance(logger, TensorBoardLogger) else None
        existed = run_dir is not None and run_dir.exists()
        try:
            super()._run_subcommand(subcommand)
        except Exception:
            # A run that failed before saving anything is noise in the runs folder: remove it.
            if run_dir is not None and not existed and run_dir.exists() and not any(run_dir.rglob("*.ckpt")):
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


class _ParseOnly(LabCLI):
    def instantiate_classes(self) -> None:
        pass

    def after_instantiate_classes(self) -> None:
        pass


def parse_config(args: list[str]) -> tuple[LightningArgumentParser, Any]:
    """The parser and the resolved config of `args` (no subcommand), building nothing.

    Raises ConfigError for a config the parser rejects.
    """
    LabArgumentParser.raise_errors = True
    try:
        cli = _ParseOnly(args=args, run=False)
    finally:
        LabArgumentParser.raise_errors = False
    return cli.parser, cli.config


def _is_tensorboard(logger: Any) -> bool:
    return getattr(logger, "class_path", "").endswith("TensorBoardLogger")


def experiment_name(config_paths: list) -> str:
    """configs/xor/transformer.yaml → "xor/transformer"; the last --config file names the run."""
    if not config_paths:
        return "default"
    path = Path(str(config_paths[-1])).with_suffix("")
    parts = path.parts
    if "configs" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("configs") :])
    return "/".join(parts[-2:])


def find_checkpoint(experiment_dir: Path, which: str) -> Path | None:
    """The newest version's last.ckpt, or its best-*.ckpt (most recent), under runs/<task>/<experiment>."""

    def version_number(path: Path) -> int:
        match = re.fullmatch(r"version_(\d+)", path.name)
        return int(match.group(1)) if match else -1

    for version in sorted(experiment_dir.glob("version_*"), key=version_number, reverse=True):
        checkpoints = version / "checkpoints"
        if which == "last" and (checkpoints / "last.ckpt").exists():
            return checkpoints / "last.ckpt"
        best = sorted(checkpoints.glob("best-*.ckpt"), key=lambda p: p.stat().st_mtime)
        if which == "best" and best:
            return best[-1]
    return None


class _DropTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Silence advice that does not apply here: in-memory datasets need no loader workers."""
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*The number of training batches \(\d+\) is smaller.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTip())


def root_cause(err: BaseException) -> BaseException:
    """The innermost input error of a chain: jsonargparse wraps what a constructor raised in messages of its
    own (with the arguments' reprs), and the original says best what is wrong."""
    found, seen = err, set()
    while (cause := err.__cause__ or err.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        err = cause
        if isinstance(err, USER_ERRORS):
            found = err
    return found


def main(args: list[str] | None = None) -> None:
    """Run the CLI; input errors end in one line on stderr and exit status 2 (LAB_DEBUG=1: traceback)."""
    try:
        LabCLI(args=args)
    except USER_ERRORS as err:
        if os.environ.get("LAB_DEBUG"):
            raise
        message = one_line(str(root_cause(err)).strip().strip("'\"")) or type(err).__name__
        sys.stderr.write(f"error: {message}\n(LAB_DEBUG=1 shows the traceback)\n")
        sys.exit(2)
