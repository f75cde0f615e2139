"""The one LightningCLI every entry point builds runs with (train.py, tune.py), on LightningCLI's public hooks.

What it adds to LightningCLI:
- vocab_size, num_classes and pad_id flow from the data module into the model (when the model takes them);
- runs are logged under runs/<task>/<experiment>/version_N, named after the config file, whatever the logger
  (TensorBoard by default, CSVLogger or any logger with `save_dir`, `name` and `version`; WandbLogger and
  MLFlowLogger through lightning_modules/logger_runs.py);
- callbacks every run uses, each a top-level key that `--print_config` shows: `checkpoint`
  (BestAndLastCheckpoint: best by `checkpoint.monitor`, and a last.ckpt that is the latest state),
  `random_state` and `train_loader_place` (exact resumption, mid-epoch too), `hparams_summary`, `lr_monitor`,
  `remove_failed_run`, `loadable_hparams`,
  `prediction_writer`, `run_costs` (timings, memory and trainable parameters as `cost/*` scalars, which
  report.py reads), `progress_log` (progress as log lines when standard output is not a terminal, where
  Lightning's bar shows nothing); checkpoints are written atomically
  (`trainer.plugins`: AtomicCheckpointIO);
- `--ckpt_path last` / `--ckpt_path best` find the newest run of the experiment: `fit` continues in its folder,
  `test`/`validate`/`predict` with a checkpoint of a run write into that run's `test/`, `validate/` or
  `predict/` sub-folder;
- a config file that is empty or not YAML, or a checkpoint file that is not a readable checkpoint, is an
  InputError naming the file; train.py reports input errors in one line (lightning_modules/one_line_errors.py).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from datamodules.contract import require_text_data
from lab_errors import InputError, MissingInputError, first_line
from lightning_modules.allocator import tune_allocator
from lightning_modules.callbacks import (
    HParamsSummary,
    LearningRateLogging,
    LoadableHyperparameters,
    PredictionWriter,
    RandomState,
    RemoveFailedRun,
    SaveConfigBesideLogs,
    TrainLoaderPlace,
)
from lightning_modules.checkpoints import find_checkpoint, read_checkpoint, run_folder_of, version_number
from lightning_modules.csv_resume import keep_earlier_metrics
from lightning_modules.frozen_modules import FrozenModulesNote
from lightning_modules.last_checkpoint import BestAndLastCheckpoint
from lightning_modules.logger_runs import own_runs_logger, point_at_run, require_package
from lightning_modules.one_line_errors import (
    innermost,
    innermost_input_error,
    input_errors_in_one_line,
    one_line,
)
from lightning_modules.progress_log import ProgressLog
from lightning_modules.run_costs import RunCosts

RUNS_DIR = "runs"
AUTO_NAME = "auto"  # the logger name that means "derive it from the config file's path"
LINKED_FROM_DATA = ("vocab_size", "num_classes", "pad_id", "special_ids")
# Callbacks every run uses, each under its own key of the config (so --print_config shows them).
ALWAYS_ON_CALLBACKS = {
    "random_state": RandomState,
    "train_loader_place": TrainLoaderPlace,
    "hparams_summary": HParamsSummary,
    "lr_monitor": LearningRateLogging,
    "remove_failed_run": RemoveFailedRun,
    "loadable_hparams": LoadableHyperparameters,
    "prediction_writer": PredictionWriter,
    "run_costs": RunCosts,
    "progress_log": ProgressLog,
    "frozen_modules": FrozenModulesNote,
}
EVALUATIONS = ("validate", "test", "predict")
# What serves a checkpoint whose model has no predict step.
PROGRAM_FOR = {
    "CausalLM": "lab-generate to continue text",
    "MaskedLM": "lab-probe, or fine-tune it as a classifier's encoder",
}


def _data_attribute(name: str):
    """The link from the data module's `name` (declared by datamodules.contract.TextData) into the model."""

    def read(datamodule: Any) -> Any:
        return getattr(require_text_data(datamodule, f"linking data.{name} into the model"), name)

    return read


class ConfigError(InputError):
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
        try:
            self._build_and_run(args, run, **kwargs)
        except BaseException:
            self.release_claimed_folder()  # a config that fails to build, say, leaves no empty run folder
            raise

    def _build_and_run(self, args: list[str] | None, run: bool, **kwargs: Any) -> None:
        super().__init__(
            model_class=L.LightningModule,
            datamodule_class=L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults={
                "logger": {
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    "init_args": {"save_dir": RUNS_DIR, "name": AUTO_NAME, "default_hp_metric": False},
                },
                "plugins": {"class_path": "lightning_modules.checkpoints.AtomicCheckpointIO"},
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
        parser.add_lightning_class_args(BestAndLastCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-epoch{epoch:03d}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        for key, callback in ALWAYS_ON_CALLBACKS.items():
            # In subclass mode the config names each class: --print_config lists even those without arguments.
            parser.add_lightning_class_args(callback, key, subclass_mode=True)
            parser.set_defaults({key: {"class_path": f"{callback.__module__}.{callback.__qualname__}"}})

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parses, then names the run and resolves `--ckpt_path`. It is here, not in before_instantiate_classes,
        because LightningCLI reads the checkpoint's hyperparameters right after parsing, before any other hook:
        the file must be known readable by then."""
        check_config_files(sys.argv[1:] if args is None else args)
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        self.claimed_run_folder = locate_run(self.config[subcommand], subcommand) if subcommand else None

    def instantiate_classes(self) -> None:
        """Builds the config's classes; a ValueError a constructor raised (the hand-built layers in layers/ raise
        ValueError for arguments they cannot take, as torch.nn does) is bad config input: one line naming the
        config file, like an InputError. LAB_DEBUG=1 keeps the traceback."""
        try:
            super().instantiate_classes()
        except ValueError as err:
            if innermost_input_error(err) is not None or os.environ.get("LAB_DEBUG"):
                raise
            files = ", ".join(
                str(path) for path in self.config.get(self.subcommand or "", self.config).get("config") or []
            )
            raise InputError(f"{files or 'the config'}: {first_line(innermost(err, ValueError) or err)}") from err

    def release_claimed_folder(self) -> None:
        """Removes the run folder claimed at parse time while nothing is in it (the run never started)."""
        folder = getattr(self, "claimed_run_folder", None)
        if folder is not None and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def before_fit(self) -> None:
        """A CSVLogger run resumed in its folder keeps the metrics logged before (lightning_modules/csv_resume.py)."""
        if self.config.fit.get("ckpt_path"):
            keep_earlier_metrics(self.trainer.logger)

    def before_predict(self) -> None:
        """`predict` writes what a model's own `predict_step` returns (a classifier's class probabilities); a
        model without one (a language model) is refused in one line that says which program serves it."""
        model = type(self.model)
        if model.predict_step is L.LightningModule.predict_step:
            other = PROGRAM_FOR.get(model.__name__, "the programs in docs/inference.md")
            raise InputError(f"train.py predict: a {model.__name__} makes no predictions of its own; use {other}")

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> L.Trainer:
        # Private override, kept because Lightning has no hook for it: LightningCLI always adds the `checkpoint`
        # callback, and Trainer refuses a ModelCheckpoint with enable_checkpointing=False (set by the user, or by
        # locate_run for evaluations). Pinned by tests/test_cli.py::test_the_one_private_override_still_applies.
        if config.get("enable_checkpointing") is False:
            callbacks = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]
        return super()._instantiate_trainer(config, callbacks)


def locate_run(config: Any, subcommand: str) -> Path | None:
    """Names the run after its config file, turns `--ckpt_path last|best` into a file (an InputError when the
    file is not a readable checkpoint), and points the logger at the folder the results belong in: the resumed
    or evaluated run's, or a new run folder claimed here (returned, so that a run that fails before it starts
    can remove it). A W&B or MLflow logger gets its run folder too (lightning_modules/logger_runs.py)."""
    logger = config.get("trainer", {}).get("logger")
    init_args = getattr(logger, "init_args", None)
    own_runs = own_runs_logger(logger) if init_args is not None else None
    if own_runs is not None:
        require_package(own_runs)
    folders = own_runs is not None or (
        init_args is not None and all(hasattr(init_args, k) for k in ("save_dir", "name", "version"))
    )
    name = experiment_name(config.get("config") or [])
    if folders and getattr(init_args, "name", None) == AUTO_NAME:
        # A W&B run's name (carried over from the TensorBoard default) is set by point_at_run.
        init_args.name = None if own_runs is not None else name
    if own_runs is not None:
        chosen = getattr(init_args, "save_dir", None) if own_runs is WandbLogger else None
        experiment = Path(chosen if chosen not in (None, ".") else RUNS_DIR) / name
    elif folders:
        experiment = Path(init_args.save_dir) / init_args.name
    run_dir = None  # a W&B or MLflow run's folder, once known
    if subcommand in EVALUATIONS:  # they save nothing, and a ModelCheckpoint would warn that the dirpath changed
        config.trainer.enable_checkpointing = False
    if config.get("weights_only") is False:
        raise InputError(
            "train.py cannot honour --weights_only false: Lightning's CLI reads every checkpoint's hyperparameters "
            "with weights_only=True first; drop it (the lab's checkpoints need no pickles), or load a file you trust "
            "in Python with lightning_modules.loading.load_model(path, ModelClass, weights_only=False)"
        )
    ckpt_path = config.get("ckpt_path")
    if ckpt_path in ("last", "best"):
        if not folders:
            raise InputError(f"--ckpt_path {ckpt_path} looks in a logger's run folders; with this logger pass a file")
        found = find_checkpoint(experiment, ckpt_path)
        if found is None and (ckpt_path == "best" or subcommand != "fit"):
            raise MissingInputError(f"no {ckpt_path} checkpoint under {experiment}")
        if found is None:
            print(f"no checkpoint to resume under {experiment}: starting a new run", file=sys.stderr)
            config.ckpt_path = None
        else:
            config.ckpt_path = str(found)
        if found is not None and subcommand == "fit":  # keep logging into the run being resumed
            if own_runs is not None:
                run_dir = found.parent.parent
            else:
                init_args.version = found.parent.parent.name
    if config.ckpt_path:
        read_checkpoint(config.ckpt_path)
        checkpoint_run = run_folder_of(Path(config.ckpt_path))
        if subcommand in EVALUATIONS and checkpoint_run is not None and folders:
            # The evaluation's logs, config and predictions go with the run: <run>/<subcommand>/.
            if own_runs is not None:
                run_dir = checkpoint_run / subcommand
            else:
                init_args.save_dir, init_args.name, init_args.version = str(checkpoint_run), "", subcommand
    logs = not config.get("trainer", {}).get("fast_dev_run")  # fast_dev_run swaps the logger for a dummy
    claimed = None
    unclaimed = run_dir is None if own_runs is not None else folders and init_args.version is None
    if folders and logs and unclaimed and rank_zero_only.rank == 0:
        # Claimed now, not when the logger first writes: two runs started together would pick the same number.
        # (Processes of a multi-device run other than rank 0 write no logs; they follow rank 0's folder.)
        number = claim_run_folder(experiment)
        claimed = experiment / f"version_{number}"
        if own_runs is not None:
            run_dir = claimed
        else:
            init_args.version = number
    if own_runs is not None and logs and run_dir is not None:
        label = run_dir.name if version_number(run_dir) >= 0 else f"{run_dir.parent.name}/{run_dir.name}"
        point_at_run(own_runs, init_args, run_dir, name, label, Path(RUNS_DIR))
        config.trainer.default_root_dir = str(run_dir)  # where SaveConfigBesideLogs writes config.yaml
        if subcommand == "fit":
            config.checkpoint.dirpath = str(run_dir / "checkpoints")
    return claimed


def claim_run_folder(experiment: Path) -> int:
    """The number N of a new, empty experiment/version_N, created here: mkdir either creates a folder or fails
    because it exists, so of two runs that try the same N at once one gets it and the other tries N + 1."""
    experiment.mkdir(parents=True, exist_ok=True)
    number = max((version_number(p) for p in experiment.glob("version_*")), default=-1) + 1
    while True:
        try:
            (experiment / f"version_{number}").mkdir()
            return number
        except FileExistsError:
            number += 1


def check_config_files(args: list[str]) -> None:
    """Each `--config FILE` holds a YAML mapping; an InputError names the file, and the line of a syntax error."""
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            path = Path(args[i + 1])
        elif arg.startswith("--config="):
            path = Path(arg.removeprefix("--config="))
        else:
            continue
        if not path.is_file():
            continue  # not a file: jsonargparse reports it (or reads the value as YAML text)
        try:
            content = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise InputError(f"{path}{where}: not valid YAML: {problem}") from err
        if content is None:
            raise InputError(f"{path} is empty: a config is a YAML mapping such as `trainer: {{max_epochs: 3}}`")
        if not isinstance(content, dict):
            raise InputError(f"{path} holds a YAML {type(content).__name__}, not a mapping of keys to values")


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
    except ConfigError:
        raise
    except InputError as err:
        raise ConfigError(str(err)) from err
    finally:
        LabArgumentParser.raise_errors = False
    return cli.parser, cli.config


def experiment_name(config_paths: list) -> str:
    """configs/xor/transformer.yaml → "xor/transformer"; the last --config file names the run."""
    if not config_paths:
        return "default"
    path = Path(str(config_paths[-1])).with_suffix("")
    parts = path.parts
    if "configs" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("configs") :])
    return "/".join(parts[-2:])


class _DropTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Silence advice that does not apply here: in-memory datasets need no loader workers, and evaluations
    need not the ModelCheckpoint that saved their checkpoint (they save nothing)."""
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*The number of training batches \(\d+\) is smaller.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    warnings.filterwarnings("ignore", message=r".*callbacks used to create the checkpoint need to be provided.*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropTip())


def main(args: list[str] | None = None) -> None:
    """Run the CLI; input errors end in one line on stderr and exit status 2 (LAB_DEBUG=1: traceback). A run
    stopped by SIGTERM has saved the state of that moment (lightning_modules/last_checkpoint.py) and exits with
    128 + 15, as a process killed by the signal would: schedulers, CI and `&&` chains see it did not finish."""
    with input_errors_in_one_line():
        try:
            LabCLI(args=args)
        except SIGTERMException as interrupted:  # Lightning's SystemExit, whose status would be 0
            raise SystemExit(128 + signal.SIGTERM) from interrupted


def run() -> None:
    """The program behind `python train.py` and the `lab-train` command: the process's allocation policy first
    (lightning_modules/allocator.py; a program's choice, so not in main(), which tests call in-process), then
    main()."""
    tune_allocator()
    main()
