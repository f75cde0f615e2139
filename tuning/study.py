"""An Optuna study whose trials are train.py runs: validation, storage, the objective, the outputs."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from optuna_integration import PyTorchLightningPruningCallback

from lightning_modules.cli import ConfigError, LabCLI, parse_config
from tuning.report import write_outputs
from tuning.search_space import SearchSpace, SearchSpaceError, as_override

# Trials that count towards --n-trials: finished or under way (in any process). Failed ones do not: a trial
# killed with its process is failed by the heartbeat and queued again; queued (WAITING) ones are still to run.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
MAX_FAILURES_IN_A_ROW = 3
log = logging.getLogger("tune")


class StudyError(RuntimeError):
    """A study that cannot start (bad storage, mismatched direction, missing config)."""


@dataclass
class StudySettings:
    config: Path
    space: SearchSpace
    study_name: str
    study_dir: Path
    storage: str
    output: Path
    n_trials: int
    monitor: str = "val/acc"
    direction: str = "maximize"
    timeout: float | None = None
    pruner: str = "median"
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 1
    seed: int = 0
    extra_args: list[str] = field(default_factory=list)

    def run_args(self, values: dict[str, Any], save_dir: Path | str, name: str) -> list[str]:
        """train.py arguments (without the subcommand) of a run with these sampled values."""
        mode = "max" if self.direction == "maximize" else "min"
        return [
            "--config", str(self.config), *self.extra_args,
            "--checkpoint.monitor", self.monitor, "--checkpoint.mode", mode,
            "--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.logger.init_args.name", name,
            *(as_override(k, v) for k, v in values.items()),
        ]  # fmt: skip


def validate(settings: StudySettings) -> None:
    """Every key exists in the config and the config accepts every choice and bound: checked by parsing
    the config (nothing is built), so a bad space fails in seconds, not after hours of trials."""
    try:
        _, config = parse_config(settings.run_args({}, "runs", "validation"))
    except ConfigError as err:
        raise StudyError(f"{settings.config}: {err}") from err
    if missing := [key for key in settings.space.keys if key not in config]:
        raise SearchSpaceError(f"{settings.space.source}: not keys of {settings.config.name}: {', '.join(missing)}")
    probes = {p.key: p.probe_values() for p in settings.space.parameters}
    for i in range(max(len(v) for v in probes.values())):  # all keys at once, then blame one if it fails
        values = {key: vals[i % len(vals)] for key, vals in probes.items()}
        try:
            parse_config(settings.run_args(values, "runs", "validation"))
        except ConfigError:
            for key, value in values.items():
                try:
                    parse_config(settings.run_args({key: value}, "runs", "validation"))
                except ConfigError as err:
                    raise SearchSpaceError(f"{settings.space.source}: {key} = {value!r} is rejected: {err}") from err
            raise


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB URL (sqlite:///…, postgresql://…) with heartbeats, so the trial of a killed process is failed
    and retried; or journal:PATH / a *.log file for Optuna's journal file (no heartbeats)."""
    try:
        if url.startswith("journal:") or url.endswith((".log", ".journal")):
            path = Path(url.removeprefix("journal:"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        with warnings.catch_warnings():  # heartbeats are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=30,
                grace_period=120,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    except Exception as err:  # sqlalchemy, driver import and OS errors all mean "cannot use this storage"
        raise StudyError(f"cannot open storage {url!r}: {str(err).splitlines()[0]}") from err


@contextlib.contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """An exclusive lock beside a local SQLite file while its schema and study are created (other storages
    handle concurrent creation themselves)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_study(settings: StudySettings) -> optuna.Study:
    pruner: optuna.pruners.BasePruner = optuna.pruners.NopPruner()
    if settings.pruner == "median":
        pruner = optuna.pruners.MedianPruner(settings.pruner_startup_trials, settings.pruner_warmup_epochs)
    elif settings.pruner == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=1)
    with creation_lock(settings.storage):  # workers started together must not both create the tables
        study = optuna.create_study(
            storage=open_storage(settings.storage),
            study_name=settings.study_name,
            load_if_exists=True,
            direction=settings.direction,
            sampler=optuna.samplers.TPESampler(seed=settings.seed),
            pruner=pruner,
        )
    if study.direction.name.lower() != settings.direction:
        raise StudyError(f"study {settings.study_name!r} exists and is a {study.direction.name.lower()} study")
    return study


def objective(settings: StudySettings, trial: optuna.Trial) -> float:
    values = settings.space.suggest(trial)
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    args = settings.run_args(values, settings.study_dir / "trials", f"trial_{trial.number:03d}") + quiet
    cli = LabCLI(args=args, run=False)  # the same CLI as train.py builds every trial
    if settings.pruner != "none":
        cli.trainer.callbacks.append(PyTorchLightningPruningCallback(trial, monitor=settings.monitor))
    trial.set_user_attr("run_dir", str(cli.trainer.log_dir))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    best = cli.trainer.checkpoint_callback.best_model_score
    if best is None:
        raise RuntimeError(f"trial {trial.number} logged no {settings.monitor}: does the run validate?")
    trial.set_user_attr("epochs", cli.trainer.current_epoch)
    return float(best)


class StopAtTotal:
    """Ends this process's optimisation when the study (all processes together) has its trials, or when
    trials keep failing."""

    def __init__(self, n_trials: int) -> None:
        self.n_trials, self.failures = n_trials, 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.failures = self.failures + 1 if trial.state == TrialState.FAIL else 0
        if self.failures >= MAX_FAILURES_IN_A_ROW:
            log.error("%d trials failed in a row: stopping (see the errors above)", self.failures)
            study.stop()
        elif len(study.get_trials(deepcopy=False, states=COUNTED)) >= self.n_trials:
            study.stop()


def run_study(settings: StudySettings) -> optuna.Study:
    """Validate, open or create the study, run trials until it has `n_trials`, write the outputs."""
    validate(settings)
    settings.study_dir.mkdir(parents=True, exist_ok=True)
    study = build_study(settings)
    done = len(study.get_trials(deepcopy=False, states=COUNTED))
    if done >= settings.n_trials:
        log.warning("study %r already has %d trials (asked for %d)", settings.study_name, done, settings.n_trials)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            study.optimize(
                lambda trial: objective(settings, trial),
                n_trials=settings.n_trials - done,
                timeout=settings.timeout,
                callbacks=[StopAtTotal(settings.n_trials)],
                catch=(RuntimeError, ValueError, FloatingPointError),
            )
    if any(t.state == TrialState.COMPLETE for t in study.trials):
        write_outputs(study, settings)
    return study
