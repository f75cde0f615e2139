"""Loggers that keep runs of their own (Weights & Biases, MLflow), given the lab's run folders all the same.

TensorBoardLogger and CSVLogger write into save_dir/name/version_N, which lightning_modules/cli.py points at
the run folder. W&B and MLflow keep their runs under ids of their own, and what Lightning derives from those
clashes with a run folder per run:

- `trainer.log_dir` is their `save_dir`, one folder for every run (W&B's default is ".", and with an MLflow
  tracking server it is None), so LightningCLI's SaveConfigCallback writes each run's config.yaml over the last
  run's, or refuses to start (Lightning issues 11256 and 17168); and W&B reserves `config.yaml` among a run's
  files for its own run config, which overwrites a file saved there under that name (wandb issue 7654);
- ModelCheckpoint saves into save_dir/<project or experiment id>/<run id>/checkpoints, where
  `--ckpt_path last` does not look.

So such a run too gets runs/<task>/<experiment>/version_N, claimed as for any logger (cli.locate_run calls
`point_at_run`): its checkpoints go to checkpoints/ (`checkpoint.dirpath`), the resolved config to config.yaml
(the folder is the trainer's `default_root_dir`, where callbacks.SaveConfigBesideLogs writes), W&B's local files
to wandb/. The logger's run is named after the folder (W&B: project `xor-transformer`, run `version_0`;
MLflow: experiment `xor/transformer`, run `version_0`) and its id is kept in `logger_run.yaml`, so that
`--ckpt_path last` continues the same logger run. The config goes to the logger as well (`send_config`): a W&B
run file `lab_config.yaml`, an MLflow artifact `config.yaml`.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.loggers import Logger, MLFlowLogger, WandbLogger

from lab_errors import InputError

# The logger classes handled here, each with the package it needs and the extras file that installs it.
PACKAGES = {WandbLogger: ("wandb", "extras/wandb.txt"), MLFlowLogger: ("mlflow", "extras/mlflow.txt")}
RUN_RECORD = "logger_run.yaml"  # in the run folder: which logger run it is, for --ckpt_path last
WANDB_CONFIG_NAME = "lab_config.yaml"  # not config.yaml: W&B writes its own run config under that name
MLFLOW_DEFAULT_EXPERIMENT = "lightning_logs"  # MLFlowLogger's default experiment_name: replaced by the run's


def own_runs_logger(logger_config: Any) -> type[Logger] | None:
    """WandbLogger or MLFlowLogger (or a subclass) when the config's `trainer.logger` names one, else None."""
    class_path = getattr(logger_config, "class_path", None)
    if not isinstance(class_path, str) or "." not in class_path:
        return None
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None  # not a class: jsonargparse reports it
    return next((kind for kind in PACKAGES if isinstance(cls, type) and issubclass(cls, kind)), None)


def keeps_own_runs(logger: Logger | None) -> bool:
    return isinstance(logger, tuple(PACKAGES))


def require_package(kind: type[Logger]) -> None:
    """An InputError in one line, naming the extras file, when the logger's package is not installed (instead of
    Lightning's ModuleNotFoundError from inside the logger's constructor)."""
    package, extra = PACKAGES[kind]
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as err:
        if err.name != package:
            raise  # the package is there but broken: a bug of the install, with its traceback
        raise InputError(
            f"trainer.logger: {kind.__name__} needs the package {package}, which is not installed: "
            f"pip install -r {extra}"
        ) from err


def point_at_run(
    kind: type[Logger], init_args: Any, run_dir: Path, experiment: str, label: str, runs_root: Path
) -> None:
    """Sets the logger's arguments for the run in `run_dir` of `experiment` ("xor/transformer"), named `label`
    ("version_0", "version_0/test"): the same logger run as the folder's earlier one when it recorded one.
    `runs_root` holds the run folders only: an MLflow file store there (the TensorBoard default's save_dir,
    which LightningCLI carries over to a logger chosen on the command line) moves to MLflow's own ./mlruns."""
    run_id = recorded_run_id(run_dir, kind)
    if kind is WandbLogger:
        init_args.save_dir = str(run_dir)  # W&B's own files: <run>/wandb/
        if init_args.project is None:
            init_args.project = experiment.replace("/", "-")  # W&B project names take no "/"
        if init_args.name is None:
            init_args.name = label
        init_args.version = run_id  # None: W&B draws a new id
    else:
        if init_args.experiment_name == MLFLOW_DEFAULT_EXPERIMENT:
            init_args.experiment_name = experiment
        if init_args.run_name is None:
            init_args.run_name = label
        init_args.run_id = run_id
        if init_args.tracking_uri is None and Path(init_args.save_dir or ".").resolve() == runs_root.resolve():
            init_args.save_dir = "./mlruns"


def recorded_run_id(run_dir: Path, kind: type[Logger]) -> str | None:
    """The id of the `kind` logger run that `run_dir` recorded, if one did."""
    path = run_dir / RUN_RECORD
    if not path.is_file():
        return None
    record = yaml.safe_load(path.read_text()) or {}
    return record.get("run_id") if record.get("logger") == kind.__name__ else None


def record_run(logger: Logger, run_dir: Path) -> None:
    """Writes which logger run `run_dir` is (its `logger.version`, the W&B or MLflow run id)."""
    record = {"logger": next(k for k in PACKAGES if isinstance(logger, k)).__name__, "run_id": str(logger.version)}
    (run_dir / RUN_RECORD).write_text(yaml.safe_dump(record, sort_keys=False))


def send_config(logger: Logger, config_path: Path) -> None:
    """The resolved config file into the logger's run: a W&B run file named lab_config.yaml (a copy in the run's
    files folder, synced with them), an MLflow artifact config.yaml."""
    if isinstance(logger, WandbLogger):
        run = logger.experiment
        copy = Path(run.dir) / WANDB_CONFIG_NAME
        shutil.copyfile(config_path, copy)
        run.save(str(copy), base_path=run.dir, policy="now")
    elif isinstance(logger, MLFlowLogger):
        logger.experiment.log_artifact(logger.run_id, str(config_path))


def finish_run(logger: Logger | None) -> None:
    """Ends a W&B run at the end of the trainer's work, as MLFlowLogger ends its run: Lightning's WandbLogger
    leaves it open, and the next run in the same process (a tuning trial, a test) would log into it."""
    if isinstance(logger, WandbLogger) and logger.version is not None:
        logger.experiment.finish()
