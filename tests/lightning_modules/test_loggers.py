"""Each logger a user can pick, through train.py's CLI: TensorBoard (the default), CSV, Weights & Biases (offline)
and MLflow (a real `mlflow server` on a loopback port). For each, a tiny XOR run stopped after its first epoch
and resumed with `--ckpt_path last`, then what the logger stored, read back with its own reader: the metrics
(val/acc as the trainer logged it), the hyperparameters (the model's), the resolved config and the attention
figures; and one run folder holding config.yaml and the checkpoints, continued by the resumed run. A tiny
language model's run with all four loggers at once shows its text samples reaching each."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
import yaml

from lightning_modules.cli import LabCLI, main
from lightning_modules.logger_media import MEDIA_DIR
from lightning_modules.logger_runs import RUN_RECORD, WANDB_CONFIG_NAME
from tests.utils import optional_module

ROOT = Path(__file__).resolve().parents[2]
XOR = str(ROOT / "configs/xor/transformer.yaml")
TOY_LM = str(ROOT / "configs/toy_lm/transformer.yaml")
ENCODER = "--model.init_args.backbone.init_args.encoder.init_args.transformer"
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
XOR_FAST = ["--data.init_args.train_size", "256", "--data.init_args.val_size", "128",
            "--data.init_args.test_size", "128", "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1",
            "--model.init_args.attention_examples", "1",  # a figure of one example's 2 heads: drawn in a blink
            f"{ENCODER}.d_model", "16", f"{ENCODER}.n_heads", "2", f"{ENCODER}.n_layers", "1"]  # fmt: skip
LM_FAST = ["--model.init_args.transformer.d_model", "16", "--model.init_args.transformer.n_heads", "2",
           "--model.init_args.transformer.n_layers", "1", "--model.init_args.transformer.max_len", "16",
           "--data.init_args.seq_len", "16", "--data.init_args.batches_per_epoch", "4",
           "--data.init_args.last_token_batches", "1", "--data.init_args.train_chars", "2000",
           "--data.init_args.val_chars", "500", "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1",
           "--model.init_args.sample_every_n_steps", "2", "--model.init_args.sample_length", "8"]  # fmt: skip
SAMPLE_STEPS = [0, 2, 4]  # the untrained model's, then every 2 of the 4 steps
SAMPLE_2 = "step 2: `"  # how the sample at step 2 begins (its prompt and continuation follow)
STOP_AFTER_ONE = json.dumps([{"class_path": "tests.utils.StopAfterEpoch", "init_args": {"epochs": 1}}])
RUN = Path("runs/xor/transformer/version_0")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def in_tmp_path(cli_in_tmp_path):
    return cli_in_tmp_path


class Runs:
    """One logger's XOR run, stopped after its first epoch (of 2), and with `resume` its continuation with
    `--ckpt_path last` (the slow variant of each test)."""

    def __init__(self, logger_args: list[str], resume: bool) -> None:
        xor = ["fit", "--config", XOR, *QUIET, *XOR_FAST, *logger_args]
        self.first = LabCLI(args=[*xor, "--trainer.callbacks", STOP_AFTER_ONE])
        self.accuracy = [float(self.first.trainer.callback_metrics["val/acc"])]
        self.resumed = LabCLI(args=[*xor, "--ckpt_path", "last"]) if resume else None
        self.last = self.resumed or self.first
        if self.resumed:
            self.accuracy.append(float(self.resumed.trainer.callback_metrics["val/acc"]))
        self.figure_steps = [2, 4][: len(self.accuracy)]  # each epoch's validation, after its 2 steps


RESUME = [False, pytest.param(True, marks=pytest.mark.slow, id="resumed")]


def check_run_folders(runs: Runs, hparams: dict) -> dict:
    """The run folder rules, whatever the logger: one folder, continued by the resumed run, holding the resolved
    config (not a W&B dump: its keys are the CLI's) and the checkpoints. The hyperparameters the logger stored
    (`hparams`) are the model's. Returns the config."""
    assert runs.first.trainer.current_epoch == 1 and (runs.resumed is None or runs.resumed.trainer.current_epoch == 2)
    assert [p.name for p in RUN.parent.iterdir()] == ["version_0"]  # the resumed run continued in the same folder
    last = torch.load(RUN / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert last["epoch"] == len(runs.accuracy) - 1 and last["global_step"] == runs.last.trainer.global_step
    config = yaml.safe_load((RUN / "config.yaml").read_text())
    assert config["trainer"]["max_epochs"] == 2 and config["data"]["init_args"]["train_size"] == 256
    assert config["model"]["init_args"]["backbone"] == runs.last.model.hparams["backbone"]
    model = runs.last.model.hparams
    for key in ("warmup_steps", "lr_decay", "vocab_size", "num_classes"):
        assert hparams[key] == model[key], key
    assert not list(Path.cwd().glob("*.yaml")), "a config.yaml outside the run folder"
    return config


# TensorBoard, the default, is checked in the default suite by tests/test_train.py (scalars, hparams, config and
# attention images of a run; exact resumption) and tests/lightning_modules/test_causal_lm.py (text samples):
# here both variants are slow, to keep the suite's time.
@pytest.mark.parametrize("resume", [pytest.param(False, marks=pytest.mark.slow), *RESUME[1:]])
def test_tensorboard_stores_metrics_hparams_config_and_figures_and_resumes(resume):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = Runs([], resume)
    events = EventAccumulator(str(RUN), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert [e.value for e in events.Scalars("val/acc")] == pytest.approx(runs.accuracy)
    assert [e.step for e in events.Images("val/attention")] == runs.figure_steps
    check_run_folders(runs, yaml.safe_load((RUN / "hparams.yaml").read_text()))


@pytest.mark.parametrize("resume", RESUME)
def test_csv_stores_metrics_hparams_config_and_writes_figures_as_files_and_resumes(resume):
    runs = Runs(["--trainer.logger", "CSVLogger"], resume)
    with (RUN / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val/acc"]) for r in rows if r["val/acc"]] == pytest.approx(runs.accuracy)  # both epochs kept
    check_run_folders(runs, yaml.safe_load((RUN / "hparams.yaml").read_text()))
    figures = sorted((RUN / MEDIA_DIR / "val/attention").iterdir())
    assert [p.name for p in figures] == [f"step_{step:06d}.png" for step in runs.figure_steps]
    assert all(p.read_bytes()[:8] == PNG for p in figures)


@pytest.fixture
def wandb_offline_mode(monkeypatch):
    optional_module("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")  # no capture of a stdout that pytest has replaced
    monkeypatch.setenv("WANDB_CONSOLE", "off")  # no capture of a stdout that pytest has replaced
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(Path.cwd() / "wandb-config"))  # not the user's ~/.config/wandb
    monkeypatch.setenv("WANDB_CACHE_DIR", str(Path.cwd() / "wandb-cache"))


@pytest.mark.parametrize("resume", RESUME)
def test_wandb_offline_stores_metrics_hparams_config_and_figures_and_resumes_its_run(resume, wandb_offline_mode):
    from tests import wandb_offline

    runs = Runs(["--trainer.logger", "WandbLogger"], resume)
    wandb_offline.flush()
    local_runs = wandb_offline.offline_runs(RUN)  # one W&B run, continued: a local folder each time, the same id
    run_id = yaml.safe_load((RUN / RUN_RECORD).read_text())["run_id"]
    assert [wandb_offline.run_id(run) for run in local_runs] == [run_id] * len(runs.accuracy)
    rows = [(run, row) for run in local_runs for row in wandb_offline.history(run)]
    assert [row["val/acc"] for _, row in rows if "val/acc" in row] == pytest.approx(runs.accuracy)
    config = check_run_folders(runs, wandb_offline.config(local_runs[-1]))
    assert yaml.safe_load((local_runs[-1] / "files" / WANDB_CONFIG_NAME).read_text()) == config  # the CLI's
    figures = [(run, row) for run, row in rows if "val/attention/filenames" in row]
    assert [row["trainer/global_step"] for _, row in figures] == runs.figure_steps
    for run, row in figures:
        assert (run / "files" / row["val/attention/filenames"][0]).read_bytes()[:8] == PNG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", autouse=True)
def mlflow_server_process(tmp_path_factory):
    """A real MLflow tracking server on a free loopback port, its store and artifacts in a temp folder, started
    with this module's first test so that it boots while the others run; None without mlflow."""
    try:
        optional_module("mlflow")
    except pytest.skip.Exception:
        yield None
        return
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", uri.rpartition(":")[2],
               "--backend-store-uri", f"sqlite:///{root}/store.db", "--artifacts-destination", str(root / "artifacts"),
               "--workers", "1"]  # fmt: skip
    with (root / "server.log").open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield server, uri, root / "server.log"
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def mlflow_server(mlflow_server_process) -> str:
    """The server's URI, once it answers /health."""
    if mlflow_server_process is None:
        optional_module("mlflow")  # skips, or fails under CI
    server, uri, log = mlflow_server_process
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=1) as answer:
                if answer.status == 200:
                    return uri
        except OSError:
            pass
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the MLflow server did not answer /health in 120 s"
        time.sleep(0.2)


@pytest.mark.parametrize("resume", RESUME)
def test_mlflow_server_stores_metrics_params_config_and_figures_and_resumes_its_run(resume, mlflow_server):
    from mlflow import MlflowClient

    runs = Runs(["--trainer.logger", "MLFlowLogger", "--trainer.logger.tracking_uri", mlflow_server], resume)
    client = MlflowClient(mlflow_server)
    run_id = yaml.safe_load((RUN / RUN_RECORD).read_text())["run_id"]
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "xor/transformer"
    assert run.info.run_name == "version_0" and run.info.status == "FINISHED"
    history = sorted(client.get_metric_history(run_id, "val/acc"), key=lambda m: m.step)
    assert [m.value for m in history] == pytest.approx(runs.accuracy)  # both epochs, in the one run
    params = {k: yaml.safe_load(v) for k, v in run.data.params.items()}  # MLflow keeps every param as a string
    config = check_run_folders(runs, params)
    stored = client.download_artifacts(run_id, "config.yaml", str(Path.cwd()))
    assert yaml.safe_load(Path(stored).read_text()) == config
    figures = [f.path for f in client.list_artifacts(run_id, "val/attention")]
    assert figures == [f"val/attention/step_{step:06d}.png" for step in runs.figure_steps]
    png = client.download_artifacts(run_id, figures[0], str(Path.cwd()))
    assert Path(png).read_bytes()[:8] == PNG


def test_text_samples_reach_every_logger_that_takes_text(wandb_offline_mode, mlflow_server):
    """One language-model run with the four loggers at once (a list: each names its own folders)."""
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests import wandb_offline

    loggers = [
        {"class_path": "TensorBoardLogger", "init_args": {"save_dir": "lm", "name": "tb", "version": 0}},
        {"class_path": "CSVLogger", "init_args": {"save_dir": "lm", "name": "csv", "version": 0}},
        {"class_path": "WandbLogger", "init_args": {"save_dir": "lm/wandb", "project": "lm"}},
        {"class_path": "MLFlowLogger", "init_args": {"tracking_uri": mlflow_server, "experiment_name": "lm"}},
    ]
    cli = LabCLI(args=["fit", "--config", TOY_LM, *QUIET, *LM_FAST, "--trainer.logger", json.dumps(loggers)])
    assert cli.trainer.global_step == SAMPLE_STEPS[-1]
    wandb_offline.flush()

    events = EventAccumulator("lm/tb/version_0", size_guidance={"tensors": 0})
    events.Reload()
    tensorboard = events.Tensors("samples/text_summary")
    assert [e.step for e in tensorboard] == SAMPLE_STEPS
    text = tensorboard[1].tensor_proto.string_val[0].decode()
    assert text.startswith(SAMPLE_2)

    csv_samples = sorted(Path("lm/csv/version_0", MEDIA_DIR, "samples").iterdir())
    assert [p.name for p in csv_samples] == [f"step_{s:06d}.txt" for s in SAMPLE_STEPS]
    assert csv_samples[1].read_text() == text + "\n"

    (run,) = wandb_offline.offline_runs(Path("lm/wandb"))
    tables = [row for row in wandb_offline.history(run) if "samples/path" in row]
    assert [row["trainer/global_step"] for row in tables] == SAMPLE_STEPS
    table = json.loads((run / "files" / tables[1]["samples/path"]).read_text())
    assert table["columns"] == ["step", "text"] and table["data"] == [[2, text]]

    client = MlflowClient(mlflow_server)
    (mlflow_run,) = client.search_runs([client.get_experiment_by_name("lm").experiment_id])
    files = [f.path for f in client.list_artifacts(mlflow_run.info.run_id, "samples")]
    assert files == [f"samples/step_{s:06d}.txt" for s in SAMPLE_STEPS]
    stored = client.download_artifacts(mlflow_run.info.run_id, files[1], str(Path.cwd()))
    assert Path(stored).read_text() == text


@pytest.mark.parametrize(("logger", "package"), [("WandbLogger", "wandb"), ("MLFlowLogger", "mlflow")])
def test_a_logger_whose_package_is_missing_is_one_line_naming_its_extras_file(logger, package, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, package, None)  # `import wandb` now fails as it does where it is not installed
    with pytest.raises(SystemExit) as caught:
        main(["fit", "--config", XOR, "--trainer.logger", logger])
    err = capsys.readouterr().err.strip().splitlines()
    assert caught.value.code == 2 and "Traceback" not in "\n".join(err)
    assert err[0] == (
        f"error: trainer.logger: {logger} needs the package {package}, which is not installed: "
        f"pip install -r extras/{package}.txt"
    )
    assert not Path("runs").exists()  # no run folder left behind
