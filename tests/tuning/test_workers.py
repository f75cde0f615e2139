"""Studies shared by processes: distinct trials across workers and resumes, exact totals, dead workers'
trials retried, two workers on SQLite, the journal file and a real PostgreSQL server, DDP trials."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tests.tuning.postgres import find_binary, postgres_server
from tuning import cli as tune
from tuning.search_space import SearchSpace
from tuning.settings import StudySettings
from tuning.storage import open_storage
from tuning.study import FINISHED, Worker, build_study, run_study

ROOT = Path(__file__).resolve().parents[2]
XOR = ROOT / "configs/xor/attention.yaml"
TINY = ["--data.init_args.train_size", "512", "--data.init_args.val_size", "128", "--trainer.max_epochs", "1"]
LR = "model.init_args.optimizer.init_args.lr"
POOL = "model.init_args.backbone.init_args.head.init_args.pool"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        yaml.safe_dump({LR: {"type": "float", "low": 1e-3, "high": 3e-2, "log": True}, POOL: ["mean", "max"]})
    )
    return path


def settings(tmp_path, space: dict, n_trials: int, **kwargs) -> StudySettings:
    return StudySettings(
        config=XOR,
        space=SearchSpace.from_dict(space),
        study_name="s",
        study_dir=tmp_path / "s",
        storage=f"sqlite:///{tmp_path / 's.db'}",
        output=tmp_path / "best.yaml",
        n_trials=n_trials,
        pruner="none",
        extra_args=TINY,
        **kwargs,
    )


def param_sets(trials) -> set:
    return {tuple(sorted(t.params.items())) for t in trials}


def finished(study):
    return study.get_trials(states=FINISHED)


def tune_command(space_file, storage, n_trials, *extra):
    return [
        sys.executable, str(ROOT / "tune.py"), "--config", str(XOR), "--search-space", str(space_file),
        "--n-trials", str(n_trials), "--storage", storage, "--study-name", "shared", "--pruner", "none",
        *extra, "--", *TINY,
    ]  # fmt: skip


def test_each_process_draws_with_its_own_seed_and_the_study_records_it(tmp_path):
    study_settings = settings(tmp_path, {POOL: ["mean", "max"]}, 1, seed=7)
    first, second = Worker(7), Worker(7)
    build_study(study_settings, first)
    study = build_study(study_settings, second)
    records = {k: v for k, v in study.user_attrs.items() if k.startswith("worker ")}
    assert {r["sampler_seed"] for r in records.values()} == {first.seed, second.seed}
    assert first.seed != second.seed and all(r["base_seed"] == 7 for r in records.values())


@pytest.mark.slow  # suite time: long; CI runs the default suite
def test_a_draw_that_repeats_a_trial_is_not_trained_and_the_total_counts_distinct_finished_trials(tmp_path):
    study_settings = settings(tmp_path, {LR: {"type": "float", "low": 1e-3, "high": 3e-2, "log": True}}, 3)
    study = build_study(study_settings)
    study.enqueue_trial({LR: 1e-2})
    study.enqueue_trial({LR: 1e-2})  # what a second worker with the same seed would have drawn
    run_study(study_settings)
    trials = study.trials
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["duplicate_of"] == 0
    assert "run_dir" not in trials[1].user_attrs  # never trained
    done = finished(study)
    assert len(done) == 3 and len(param_sets(done)) == 3


def test_an_exhausted_space_ends_the_study_without_repeating_a_trial(tmp_path, caplog):
    study_settings = settings(tmp_path, {POOL: ["mean", "max"]}, 4)
    study = run_study(study_settings)
    done = finished(study)
    assert len(done) == 2 and len(param_sets(done)) == 2
    assert "search space is exhausted: 2 distinct parameter sets" in caplog.text


@pytest.mark.slow  # three processes, one killed; the suite's time
def test_a_killed_study_resumes_to_the_total_in_distinct_trials_and_retries_the_killed_one(space_file, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    worker = subprocess.Popen(tune_command(space_file, storage, 3), cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.5)
        try:
            running = optuna.load_study(study_name="shared", storage=storage).get_trials(states=(TrialState.RUNNING,))
        except KeyError:  # the study is not created yet
            continue
        if any(t.number == 1 and "worker" in t.user_attrs for t in running):
            break
    os.kill(worker.pid, signal.SIGKILL)  # mid-trial: trial 1 is left RUNNING
    worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the worker ended before trial 1 started"

    tune.main(tune_command(space_file, storage, 3)[2:])  # the same arguments, in this process
    study = optuna.load_study(study_name="shared", storage=storage)
    done = finished(study)
    assert len(done) == 3 and len(param_sets(done)) == 3
    killed = study.trials[1]
    assert killed.state == TrialState.FAIL
    retries = [t for t in done if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == 1]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert len({r["sampler_seed"] for k, r in study.user_attrs.items() if k.startswith("worker ")}) == 2


# Two workers on one study, in the default suite on PostgreSQL (the storage for several machines); the SQLite and
# journal runs are slow-marked: the locking is then Optuna's, SQLite studies run in most other tuning tests, and
# test_storage.py covers the lab's journal code.
SLOW = pytest.mark.slow


@pytest.fixture(params=[pytest.param("sqlite", marks=SLOW), pytest.param("journal", marks=SLOW), "postgresql"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    elif request.param == "journal":
        yield f"journal:{tmp_path / 'shared.log'}"
    else:
        if find_binary("initdb") is None or find_binary("postgres") is None:
            pytest.skip("PostgreSQL server binaries (initdb, postgres) not found: .ci/postgres.sh installs them")
        with postgres_server() as url:
            yield url


def test_two_workers_finish_one_study_with_distinct_trials(space_file, tmp_path, storage_url):
    command = tune_command(space_file, storage_url, 4)
    workers = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=400)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    study = optuna.load_study(study_name="shared", storage=open_storage(storage_url))
    done = finished(study)
    assert len(done) == 4 and len(param_sets(done)) == 4
    seeds = {r["sampler_seed"] for k, r in study.user_attrs.items() if k.startswith("worker ")}
    assert len(seeds) == 2


@pytest.mark.slow
def test_a_study_of_two_process_ddp_trials_prunes_on_every_rank(tmp_path):
    """3 trials, each DDP over 2 CPU processes (gloo), with the median pruner: the hopeless learning rate is
    pruned on both ranks (its processes stop early and exit cleanly) and the others complete."""
    space = tmp_path / "lr.yaml"
    space.write_text(yaml.safe_dump({LR: [1e-2, 1e-9, 3e-3]}))
    storage = f"sqlite:///{tmp_path / 'ddp.db'}"
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    small = ["--data.init_args.train_size", "1024", "--data.init_args.val_size", "256"]
    study_settings = settings(tmp_path, {LR: [1e-2, 1e-9, 3e-3]}, 3)
    study_settings.storage, study_settings.study_name = storage, "ddp"
    study = build_study(study_settings)
    for lr in (1e-2, 1e-9, 3e-3):  # the order the pruner needs: a good one first, then the hopeless one
        study.enqueue_trial({LR: lr})
    command = [
        sys.executable, str(ROOT / "tune.py"), "--config", str(XOR), "--search-space", str(space),
        "--n-trials", "3", "--storage", storage, "--study-name", "ddp", "--pruner", "median",
        "--pruner-startup-trials", "1", "--pruner-warmup-epochs", "0",
        "--", *small, "--trainer.max_epochs", "4", "--model.init_args.warmup_steps", "0", *ddp,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    trials = optuna.load_study(study_name="ddp", storage=storage).trials
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert trials[2].state in FINISHED  # the pruner may judge 3e-3 too slow as well
    assert trials[1].params[LR] == 1e-9 and len(trials[1].intermediate_values) < 4
    assert trials[0].value > 0.9 and len(param_sets(trials)) == 3
    saved = yaml.safe_load((Path(trials[0].user_attrs["run_dir"]) / "config.yaml").read_text())
    assert str(saved["trainer"]["devices"]) == "2" and saved["trainer"]["strategy"] == "ddp"
    # rank 1 of every trial is a relaunched tuning.distributed_trial, and it exits cleanly when pruned
    assert result.stderr.count("GLOBAL_RANK: 1, MEMBER: 2/2") == 3 and "Trial 1 pruned" in result.stderr
