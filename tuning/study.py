"""An Optuna study whose trials are train.py runs: validation, workers, the objective, the loop (its storage:
tuning/storage.py).

A study is shared by every process that opens it (resumes, parallel workers, machines on one PostgreSQL URL):
- each process samples with its own seed, derived from --seed and a token of the process, and records both in
  the study's user attrs (`worker <token>`) and in each of its trials (`worker`);
- a trial that draws the parameters of an earlier one is not trained: it is failed at once with a
  `duplicate_of` user attr and the sampler draws again (unless the space is exhausted: then the study stops);
- `n_trials` counts finished trials (complete or pruned). A worker starts a trial only while finished plus
  running trials are short of it, and otherwise waits for the others' trials to end;
- a trial left RUNNING by a dead worker is failed and queued again once (RetryHeartbeatStaleTrialCallback):
  by the heartbeat on RDB storages, after its grace period; at once when the dead worker ran on this machine
  (its process id is gone), which is also the only detection the journal storage has;
- a trial whose trainer runs several processes (DDP) runs as a subprocess, tuning.distributed_trial, whose
  ranks Lightning launches by re-running that subprocess's command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from optuna_integration import PyTorchLightningPruningCallback

from lightning_modules.checkpoints import DiskFullError
from lightning_modules.cli import ConfigError, LabCLI, parse_config
from tuning.report import write_outputs
from tuning.search_space import SearchSpaceError
from tuning.settings import StudyError, StudySettings
from tuning.storage import RETRY, creation_lock, open_storage

__all__ = ["StudyError", "StudySettings", "build_study", "run_study", "validate"]

ROOT = Path(__file__).resolve().parents[1]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_FAILURES_IN_A_ROW = 3
MAX_DUPLICATES_IN_A_ROW = 20  # draws that all repeat earlier trials: the sampler has nothing new to offer
WAIT_SECONDS = 2.0  # between looks at the others' running trials when the study's total is in sight
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
log = logging.getLogger("tune")
# Trials get their arguments explicitly and tune.py leaves sys.argv alone (DDP ranks re-run command lines), so
# LightningCLI's warning about "both args and sys.argv" is expected here, once per trial: not shown.
warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended", category=UserWarning)


class DuplicateTrial(RuntimeError):
    """The sampler drew a parameter set that another trial of the study has (or is) evaluating."""


class NoRoomToSave(Exception):
    """A trial could not save its checkpoint for want of space, and no later trial could either. Not a
    ValueError, as DiskFullError is: Optuna would fail the trial and draw the next (study.optimize's catch)."""


def validate(settings: StudySettings) -> bool:
    """Every key exists in the config and the config accepts every choice and bound: checked by parsing
    the config (nothing is built), so a bad space fails in seconds, not after hours of trials. Returns
    whether the config's trainer runs several processes (then trials run as subprocesses)."""
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
    return is_distributed(config.get("trainer", {}))


def is_distributed(trainer: Any) -> bool:
    """Whether a parsed trainer config starts several processes (devices > 1, several nodes, a DDP strategy)."""
    devices, strategy = trainer.get("devices"), str(trainer.get("strategy") or "")
    several = (isinstance(devices, int) and devices > 1) or (isinstance(devices, (list, tuple)) and len(devices) > 1)
    several |= isinstance(devices, str) and devices.isdigit() and int(devices) > 1
    return several or int(trainer.get("num_nodes") or 1) > 1 or "ddp" in strategy or "fsdp" in strategy


def machine() -> str:
    """This machine, as a process id's scope: the host name and the boot."""
    with contextlib.suppress(OSError):
        return f"{socket.gethostname()}/{Path('/proc/sys/kernel/random/boot_id').read_text().strip()}"
    return socket.gethostname()


def worker_seed(base_seed: int, token: str) -> int:
    """The sampler seed of one process: the base seed and the process's token, hashed to 32 bits."""
    return int.from_bytes(hashlib.sha256(f"{base_seed}/{token}".encode()).digest()[:4], "little")


class Worker:
    """This process's identity in the study: its token, machine, process id and sampler seed."""

    def __init__(self, base_seed: int) -> None:
        self.machine, self.pid = machine(), os.getpid()
        self.token = f"{socket.gethostname()}:{self.pid}:{time.time_ns()}"
        self.base_seed, self.seed = base_seed, worker_seed(base_seed, self.token)

    def record(self, study: optuna.Study) -> None:
        study.set_user_attr(
            f"worker {self.token}",
            {
                "base_seed": self.base_seed,
                "sampler_seed": self.seed,
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "trials_before": len(study.get_trials(deepcopy=False)),
            },
        )

    def mark(self, trial: optuna.Trial) -> None:
        trial.set_user_attr("worker", {"token": self.token, "machine": self.machine, "pid": self.pid})


def pruner_of(settings: StudySettings) -> optuna.pruners.BasePruner:
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(settings.pruner_startup_trials, settings.pruner_warmup_epochs)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def build_study(settings: StudySettings, worker: Worker | None = None) -> optuna.Study:
    """Open or create the study, with a TPE sampler seeded for this process (constant liar: the others'
    running trials count as bad results, so parallel workers spread out), and record the worker."""
    worker = worker or Worker(settings.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=worker.seed, constant_liar=True)
    with creation_lock(settings.storage):  # workers started together must not both create the tables
        study = optuna.create_study(
            storage=open_storage(settings.storage),
            study_name=settings.study_name,
            load_if_exists=True,
            direction=settings.direction,
            sampler=sampler,
            pruner=pruner_of(settings),
        )
    if study.direction.name.lower() != settings.direction:
        raise StudyError(f"study {settings.study_name!r} exists and is a {study.direction.name.lower()} study")
    worker.record(study)
    return study


def duplicate_of(trial: optuna.Trial) -> int | None:
    """The number of a trial that evaluated (or is evaluating) this trial's parameters. Of two running trials
    with the same parameters the later one yields, so two workers never both keep one."""
    for other in trial.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING)):
        if other.number == trial.number or other.params != trial.params:
            continue
        if other.state != TrialState.RUNNING or other.number < trial.number:
            return other.number
    return None


def fit_trial(settings: StudySettings, trial: optuna.Trial, values: dict[str, Any]) -> float:
    """Train one trial with the CLI train.py builds; under DDP every rank runs this, and the pruning
    decision that rank 0 takes reaches the others through the callback's broadcast and check_pruned()."""
    args = settings.run_args(values, settings.study_dir / "trials", f"trial_{trial.number:03d}") + QUIET
    cli = LabCLI(args=args, run=False)  # the same CLI as train.py builds every trial
    pruning = None if settings.pruner == "none" else PyTorchLightningPruningCallback(trial, settings.monitor)
    if pruning:
        cli.trainer.callbacks.append(pruning)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    if pruning:
        pruning.check_pruned()  # raises TrialPruned on every rank of a pruned DDP trial; a no-op otherwise
    best = cli.trainer.checkpoint_callback.best_model_score
    if best is None:
        raise RuntimeError(f"trial {trial.number} logged no {settings.monitor}: does the run validate?")
    run_dir = cli.trainer.log_dir  # a broadcast under DDP: every rank asks
    if cli.trainer.is_global_zero:
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("epochs", cli.trainer.current_epoch)
    return float(best)


def run_distributed_trial(settings: StudySettings, trial: optuna.Trial, values: dict[str, Any]) -> float:
    """Run a multi-process trial as `python -m tuning.distributed_trial JOB`: Lightning's launcher re-runs
    that command line for the other ranks, each rank trains, rank 0 writes the result that this process
    turns into the trial's value (or its pruning). The storage is RDB: optuna-integration's pruning callback
    supports no other under DDP."""
    folder = settings.study_dir / "trials"
    folder.mkdir(parents=True, exist_ok=True)
    job, result = folder / f"trial_{trial.number:03d}.job", folder / f"trial_{trial.number:03d}.result.json"
    job.write_bytes(pickle.dumps({"settings": settings, "trial": trial, "values": values, "result": result}))
    result.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    code = subprocess.run([sys.executable, "-m", "tuning.distributed_trial", str(job)], env=env).returncode
    if code != 0 or not result.is_file():
        raise RuntimeError(f"trial {trial.number}: its processes exited with {code} (see their output above)")
    outcome = json.loads(result.read_text())
    if outcome["pruned"]:
        raise optuna.TrialPruned(outcome["message"])
    return float(outcome["value"])


def objective(settings: StudySettings, worker: Worker, distributed: bool, trial: optuna.Trial) -> float:
    worker.mark(trial)
    values = settings.space.suggest(trial)
    if (number := duplicate_of(trial)) is not None:
        trial.set_user_attr("duplicate_of", number)
        raise DuplicateTrial(f"trial {trial.number} drew the parameters of trial {number}: not trained")
    try:
        if distributed:
            return run_distributed_trial(settings, trial, values)
        return fit_trial(settings, trial, values)
    except DiskFullError as err:
        raise NoRoomToSave(trial.number) from err


def fail_dead_workers_trials(study: optuna.Study) -> None:
    """Fail and queue again (once) the running trials of processes of this machine that no longer exist."""
    here = machine()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("worker", {})
        if owner.get("machine") != here or owner.get("pid") == os.getpid() or pid_alive(owner.get("pid")):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):  # another worker failed it first
            continue
        log.warning(
            "trial %d: its worker (process %s) is gone: failed, and queued again once", trial.number, owner["pid"]
        )
        RETRY(study, study.get_trials(deepcopy=False)[trial.number])


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # unknown owner: assume it lives
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def distinct_sets(study: optuna.Study) -> int:
    trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
    return len({tuple(sorted((k, repr(v)) for k, v in t.params.items())) for t in trials})


class Progress:
    """Counts this process's failures and duplicate draws in a row."""

    def __init__(self) -> None:
        self.failures = self.duplicates = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        duplicate = "duplicate_of" in trial.user_attrs and trial.state == TrialState.FAIL
        self.duplicates = self.duplicates + 1 if duplicate else 0
        self.failures = self.failures + 1 if trial.state == TrialState.FAIL and not duplicate else 0


def optimize(settings: StudySettings, study: optuna.Study, worker: Worker, distributed: bool) -> None:
    """Run trials until the study has `n_trials` finished ones (this process and the others together)."""
    progress, size = Progress(), settings.space.size()
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    while True:
        fail_dead_workers_trials(study)
        optuna.storages.fail_stale_trials(study)  # RDB storages: the heartbeat's verdict; journal: nothing
        counts = {state: len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState}
        finished = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        left = None if deadline is None else deadline - time.monotonic()
        if finished >= settings.n_trials or (left is not None and left <= 0):
            return
        if progress.failures >= MAX_FAILURES_IN_A_ROW:
            log.error("%d trials failed in a row: stopping (see the errors above)", progress.failures)
            return
        if (size is not None and distinct_sets(study) >= size) or progress.duplicates >= MAX_DUPLICATES_IN_A_ROW:
            log.warning("the search space is exhausted: %d distinct parameter sets tried", distinct_sets(study))
            return
        if finished + counts[TrialState.RUNNING] >= settings.n_trials and not counts[TrialState.WAITING]:
            time.sleep(WAIT_SECONDS)  # the others' running trials may reach the total: wait for them
            continue
        try:
            study.optimize(
                lambda trial: objective(settings, worker, distributed, trial),
                n_trials=1,
                timeout=left,
                callbacks=[progress],
                catch=(RuntimeError, ValueError, FloatingPointError),
            )
        except NoRoomToSave as stop:  # Optuna has failed the trial
            full = stop.__cause__
            raise StudyError(
                f"trial {stop.args[0]} could not save its checkpoint, nor could any trial after it: no space left "
                f"to write {full.path} ({full.reason}); free space on its disk, then run tune.py again to go on "
                "with the study"
            ) from full


def run_study(settings: StudySettings) -> optuna.Study:
    """Validate, open or create the study, run trials until it has `n_trials` finished, write the outputs."""
    distributed = validate(settings)
    settings.study_dir.mkdir(parents=True, exist_ok=True)
    worker = Worker(settings.seed)
    study = build_study(settings, worker)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    if finished >= settings.n_trials:
        log.warning(
            "study %r already has %d finished trials (asked for %d)", settings.study_name, finished, settings.n_trials
        )
    with warnings.catch_warnings():  # heartbeats and retries are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optimize(settings, study, worker, distributed)
    if any(t.state == TrialState.COMPLETE for t in study.trials):
        write_outputs(study, settings)
    return study
