"""tuning/cli.py (tune.py): studies complete, resume, prune, share a storage, and refuse bad input before training."""

import errno
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from lightning_modules import checkpoints
from lightning_modules.cli import LabCLI
from tuning import cli as tune
from tuning.search_space import SearchSpace
from tuning.study import StudySettings, build_study, run_study

ROOT = Path(__file__).resolve().parents[2]
XOR = ROOT / "configs/xor/attention.yaml"
TINY = [
    "--data.init_args.train_size",
    "512",
    "--data.init_args.val_size",
    "256",
    "--trainer.max_epochs",
    "2",
]
LR = "model.init_args.optimizer.init_args.lr"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["tune.py"])
    return tmp_path


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                LR: {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
                "model.init_args.backbone.init_args.head.init_args.pool": ["mean", "max"],
            }
        )
    )
    return path


def study_args(space_file, *args):
    return ["--config", str(XOR), "--search-space", str(space_file), *args, "--", *TINY]


def load(tmp_path, name="xor-attention"):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'studies' / name / 'study.db'}")


def test_a_small_study_completes_and_writes_a_runnable_best_config(space_file, tmp_path, capsys):
    tune.main(study_args(space_file, "--n-trials", "3"))
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    folder = tmp_path / "studies/xor-attention"
    plots = {"optimization_history.png", "param_importances.png", "slice.png", "parallel_coordinate.png"}
    assert {"best.yaml", "trials.csv", *plots} <= {p.name for p in folder.iterdir()}
    assert len(list((folder / "trials").glob("trial_*/version_0/events.out.tfevents.*"))) == 3
    assert "best config:" in capsys.readouterr().out

    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert (
        best["model"]["init_args"]["backbone"]["init_args"]["head"]["init_args"]["pool"]
        == study.best_params["model.init_args.backbone.init_args.head.init_args.pool"]
    )
    assert best["model"]["init_args"]["optimizer"]["init_args"]["lr"] == pytest.approx(study.best_params[LR])
    cli = LabCLI(args=["fit", "--config", str(folder / "best.yaml"), "--trainer.fast_dev_run", "true"])
    assert cli.trainer.state.finished


@pytest.mark.slow  # suite time: long; CI runs the default suite
def test_an_interrupted_study_continues_to_the_requested_total(space_file, tmp_path):
    tune.main(study_args(space_file, "--n-trials", "1"))
    first = load(tmp_path).trials[0]
    tune.main(study_args(space_file, "--n-trials", "3"))
    trials = load(tmp_path).trials
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[0].value == first.value and trials[0].params == first.params  # nothing lost or redone
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3  # the resume drew new parameters


@pytest.mark.slow  # suite time: long; CI runs the default suite
def test_the_median_pruner_stops_a_hopeless_trial(tmp_path):
    settings = StudySettings(
        config=XOR,
        space=SearchSpace.from_dict({LR: [1e-2, 1e-9]}),
        study_name="prune",
        study_dir=tmp_path / "prune",
        storage=f"sqlite:///{tmp_path / 'prune.db'}",
        output=tmp_path / "best.yaml",
        n_trials=2,
        pruner_startup_trials=1,
        pruner_warmup_epochs=0,
        extra_args=[*TINY, "--trainer.max_epochs", "4", "--model.init_args.warmup_steps", "0"],
    )
    study = build_study(settings)
    study.enqueue_trial({LR: 1e-2})  # learns
    study.enqueue_trial({LR: 1e-9})  # cannot move from its initial accuracy
    run_study(settings)
    good, hopeless = study.trials
    assert good.state == TrialState.COMPLETE and hopeless.state == TrialState.PRUNED
    assert len(hopeless.intermediate_values) < 4  # stopped before its last epoch


def run_failing(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tune.main(argv)
    return exit_info.value.code, capsys.readouterr().err


def test_a_key_that_is_not_in_the_config_fails_before_training(tmp_path, capsys):
    space = tmp_path / "bad.yaml"
    space.write_text(yaml.safe_dump({"model.init_args.learning_rate": [0.1, 0.01]}))
    code, err = run_failing(study_args(space, "--n-trials", "2"), capsys)
    assert code == 2 and "not keys of attention.yaml: model.init_args.learning_rate" in err
    assert not (tmp_path / "studies").exists()


def test_a_choice_the_config_rejects_fails_before_training(tmp_path, capsys):
    space = tmp_path / "bad.yaml"
    space.write_text(yaml.safe_dump({"model.init_args.backbone.init_args.head.init_args.pool": ["mean", "avg"]}))
    code, err = run_failing(study_args(space, "--n-trials", "2"), capsys)
    assert code == 2 and "model.init_args.backbone.init_args.head.init_args.pool = 'avg' is rejected" in err
    assert not (tmp_path / "studies").exists()


def test_an_empty_space_fails_before_training(tmp_path, capsys):
    space = tmp_path / "empty.yaml"
    space.write_text("{}\n")
    code, err = run_failing(study_args(space, "--n-trials", "2"), capsys)
    assert code == 2 and "empty" in err


def test_an_unreachable_storage_fails_before_training(space_file, tmp_path, capsys):
    code, err = run_failing(study_args(space_file, "--storage", "postgresql://nobody@127.0.0.1:9/none"), capsys)
    assert code == 2 and "cannot open storage 'postgresql://nobody@127.0.0.1:9/none'" in err
    assert not list(tmp_path.glob("studies/*/trials"))


def test_a_full_disk_stops_the_study_in_one_line_after_its_first_trial(space_file, tmp_path, capsys, monkeypatch):
    def disk_full(obj, f, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", disk_full)
    code, err = run_failing(study_args(space_file, "--n-trials", "3", "--pruner", "none"), capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: trial 0 could not save its checkpoint, nor could any trial after it:")
    assert "no space left to write " in last and last.endswith("run tune.py again to go on with the study")
    assert [t.state for t in load(tmp_path).trials] == [TrialState.FAIL]  # not two more trials that fail alike


@pytest.mark.slow  # suite time: long; CI runs the default suite
def test_a_key_fixed_after_the_separator_leaves_the_search(space_file, tmp_path):
    tune.main(
        [
            *study_args(space_file, "--n-trials", "2"),
            "--model.init_args.backbone.init_args.head.init_args.pool",
            "first",
        ]
    )
    study = load(tmp_path)
    assert all(list(t.params) == [LR] for t in study.trials)
    best = yaml.safe_load((tmp_path / "studies/xor-attention/best.yaml").read_text())
    assert best["model"]["init_args"]["backbone"]["init_args"]["head"]["init_args"]["pool"] == "first"


@pytest.mark.parametrize("task", ["xor", "imdb_synth"])
def test_without_search_space_the_tasks_own_in_configs_search_spaces_is_used(task):
    config = next((ROOT / "configs" / task).glob("*.yaml"))
    settings = tune.settings_from_args(*tune.parse_args(["--config", str(config)]))
    assert settings.space.source == str(ROOT / "configs/search_spaces" / f"{task}.yaml")
    assert settings.space.parameters  # the file loads: a search space, not a config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_optuna_dashboard_serves_a_study_the_lab_made(space_file, tmp_path):
    one_quick_trial = ["--trainer.max_epochs", "1", "--data.init_args.train_size", "256"]
    tune.main(["--config", str(XOR), "--search-space", str(space_file), "--n-trials", "1", "--", *one_quick_trial])
    storage = f"sqlite:///{tmp_path / 'studies/xor-attention/study.db'}"
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("optuna-dashboard")), storage, "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, studies = time.time() + 60, None
        while studies is None and time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as answer:
                    studies = json.load(answer)["study_summaries"]
            except OSError:
                time.sleep(0.3)
        assert studies is not None, server.stderr.read().decode()[-2000:] if server.poll() is not None else "no answer"
        assert [s["study_name"] for s in studies] == ["xor-attention"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard", timeout=5) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
