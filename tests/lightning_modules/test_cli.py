"""The CLI's seams: bugs keep their tracebacks, bad files are named in one line, every callback is in the printed
config, evaluations land with their run, any logger names and resumes runs, bf16-mixed runs on the CPU."""

import json
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, ProgressBar
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_modules.checkpoints import AtomicCheckpointIO, find_checkpoint
from lightning_modules.cli import LabCLI, claim_run_folder, main
from tests.fixtures import config_overrides

ROOT = Path(__file__).resolve().parents[2]
XOR = str(ROOT / "configs/xor/transformer.yaml")
IMDB_SYNTH_ATTENTION = str(ROOT / "configs/imdb_synth/attention.yaml")
SMALL = ["--data.init_args.train_size", "256", "--data.init_args.val_size", "128",
         "--data.init_args.test_size", "64", "--trainer.enable_progress_bar", "false"]  # fmt: skip


@pytest.fixture(autouse=True)
def in_tmp_path(cli_in_tmp_path):
    return cli_in_tmp_path


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def one_epoch(config: str = XOR, *args: str) -> LabCLI:
    return LabCLI(args=["fit", "--config", config, *SMALL, "--trainer.max_epochs", "1", *args])


@pytest.mark.parametrize(
    ("kind", "message"), [("TypeError", "unsupported operand type(s) for +=: 'NoneType' and 'int'"), ("KeyError", "")]
)
def test_a_bug_raised_in_a_callback_keeps_its_traceback(kind, message):
    callback = json.dumps([{"class_path": "tests.utils.RaiseInCallback", "init_args": {"kind": kind}}])
    with pytest.raises((TypeError, KeyError)) as info:
        main(["fit", "--config", XOR, *SMALL, "--trainer.callbacks", callback])
    assert info.type.__name__ == kind and message in str(info.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("model:\n  class_path: x\n   bad: [1, 2\n", ", line 3, column 7: not valid YAML"),
        ("- a list\n", "holds a YAML list"),
    ],
)
def test_a_config_file_that_is_empty_or_not_yaml_is_named_in_one_line(content, expected, capsys, in_tmp_path):
    bad = in_tmp_path / "mine.yaml"
    bad.write_text(content)
    code, err = run_main(["fit", "--config", str(bad)], capsys)
    assert code == 2 and len(err) <= 2
    assert err[0].startswith(f"error: {bad}") and expected in err[0], err


class Opaque:
    """An object that only a full (pickle) load can restore."""


def broken_checkpoints(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Files that are not checkpoints one can load, and what the one-line error must say about each."""
    data = good.read_bytes()
    (folder / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (folder / "garbage.ckpt").write_bytes(bytes(range(256)) * 8)
    torch.save({"weights": torch.ones(2)}, folder / "foreign.ckpt")
    pickled = torch.load(good, weights_only=True)
    pickled["callbacks"]["extra"] = Opaque()  # a class of ours: unpickling it would import and run our code
    torch.save(pickled, folder / "pickled.ckpt")
    return {
        "truncated": (folder / "truncated.ckpt", "is not a PyTorch checkpoint: the file is truncated"),
        "garbage": (folder / "garbage.ckpt", "is not a PyTorch checkpoint"),
        "foreign": (folder / "foreign.ckpt", "not a Lightning checkpoint"),
        "pickled": (folder / "pickled.ckpt", "weights_only=True refuses"),
        "missing": (folder / "missing.ckpt", "no such checkpoint file"),
    }


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    save_dir = ["--trainer.logger.init_args.save_dir", str(folder / "runs")]
    cli = LabCLI(args=["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "1", *save_dir])
    return Path(cli.trainer.checkpoint_callback.last_model_path)


@pytest.mark.parametrize("which", ["truncated", "garbage", "foreign", "pickled", "missing"])
def test_a_bad_checkpoint_file_is_named_in_one_line_by_every_entry_point(which, good_checkpoint, capsys, in_tmp_path):
    from programs import generate, sentiment

    path, expected = broken_checkpoints(in_tmp_path, good_checkpoint)[which]
    for command in (
        lambda: main(["test", "--config", XOR, *SMALL, "--ckpt_path", str(path)]),
        lambda: sentiment.main(["--ckpt_path", str(path), "a text"]),
        lambda: generate.main(["--ckpt_path", str(path)]),
    ):
        with pytest.raises(SystemExit) as exit_info:
            command()
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 2, err
        assert err[0].startswith(f"error: {path}") and expected in err[0], err
    if which == "pickled":
        assert "load_model(path, ModelClass, weights_only=False)" in err[0]


def test_weights_only_false_is_refused_in_one_line_before_anything_is_read(good_checkpoint, capsys):
    # Lightning's CLI would read the file's hyperparameters with weights_only=True anyway, after this one had
    # run the file's code: the option cannot do what it says, so train.py refuses it.
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--config", XOR, *SMALL, "--ckpt_path", str(good_checkpoint), "--weights_only", "false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2 and "cannot honour --weights_only false" in err[0], err


def test_an_interrupted_checkpoint_write_leaves_no_file_under_a_final_name(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "checkpoints/best.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, target)

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": torch.tensor(2)}, target)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"step": torch.tensor(2)}, tmp_path / "checkpoints/new.ckpt")
    monkeypatch.undo()
    assert sorted(p.name for p in target.parent.iterdir()) == ["best.ckpt"]  # no partial file, no new.ckpt
    assert torch.load(target, weights_only=True)["step"] == 1  # the earlier checkpoint is intact


def test_every_run_writes_its_checkpoints_atomically():
    cli = LabCLI(args=["--config", XOR, *SMALL], run=False)
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_ckpt_path_best_is_the_monitored_best_not_the_newest_file(in_tmp_path):
    cli = LabCLI(args=["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "2",
                       "--checkpoint.monitor", "val/loss", "--checkpoint.mode", "min"])  # fmt: skip
    recorded = Path(cli.trainer.checkpoint_callback.best_model_path).resolve()
    checkpoints = recorded.parent
    # A newer best-*.ckpt, as a crash mid-save used to leave behind.
    (checkpoints / "best-epoch009.ckpt").write_bytes(recorded.read_bytes()[:1000])
    assert find_checkpoint(in_tmp_path / "runs/xor/transformer", "best").resolve() == recorded
    tested = LabCLI(args=["test", "--config", XOR, *SMALL, "--ckpt_path", "best"])
    assert Path(tested.config.test.ckpt_path).resolve() == recorded


def test_evaluating_a_run_writes_into_its_folder_without_warnings(in_tmp_path):
    run_dir = Path(one_epoch().trainer.log_dir).resolve()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tested = LabCLI(args=["test", "--config", XOR, *SMALL, "--ckpt_path", "best"])
    assert Path(tested.trainer.log_dir).resolve() == run_dir / "test"
    assert (run_dir / "test/config.yaml").exists()
    advice = ("dirpath", "callbacks used to create the checkpoint")
    assert not [w for w in caught if any(a in str(w.message) for a in advice)], [str(w.message) for w in caught]
    assert sorted(p.name for p in in_tmp_path.glob("runs/xor/transformer/*")) == ["version_0"]


def test_a_csv_logger_run_is_named_after_its_config_and_resumes_with_ckpt_path_last(in_tmp_path):
    # imdb_synth/attention draws attention figures, which a CSV run writes as files under media/ (docs/loggers.md).
    csv = ["--trainer.logger", "CSVLogger", "--trainer.logger.save_dir", "csvruns", "--trainer.log_every_n_steps", "1"]
    stop = json.dumps([{"class_path": "tests.utils.StopAfterEpoch", "init_args": {"epochs": 1}}])
    first = LabCLI(args=["fit", "--config", IMDB_SYNTH_ATTENTION, *SMALL, *csv, "--trainer.max_epochs", "2",
                         "--trainer.callbacks", stop])  # fmt: skip
    run_dir = in_tmp_path / "csvruns/imdb_synth/attention/version_0"
    assert Path(first.trainer.log_dir).resolve() == run_dir and first.trainer.current_epoch == 1
    resumed = LabCLI(args=["fit", "--config", IMDB_SYNTH_ATTENTION, *SMALL, *csv, "--trainer.max_epochs", "2",
                           "--ckpt_path", "last"])  # fmt: skip
    assert Path(resumed.trainer.log_dir).resolve() == run_dir and resumed.trainer.current_epoch == 2
    epochs = {row.split(",")[0] for row in (run_dir / "metrics.csv").read_text().splitlines()[1:]}
    assert len(epochs) > 1 and (run_dir / "checkpoints/last.ckpt").exists()


def listed_class_paths(printed: str) -> set[str]:
    config = yaml.safe_load(printed)
    paths = {c["class_path"] for c in config["trainer"].get("callbacks") or []}
    for value in config.values():
        if isinstance(value, dict) and "class_path" in value:
            paths.add(value["class_path"])
    if "checkpoint" in config:
        paths.add("lightning_modules.last_checkpoint.BestAndLastCheckpoint")
    return paths


def test_print_config_lists_every_callback_the_run_uses(capsys, corpora):
    config = ROOT / "configs/reviews/ffnn.yaml"  # a config with callbacks of its own
    args = ["fit", "--config", str(config), *config_overrides(config, corpora)]
    with pytest.raises(SystemExit):
        main([*args, "--print_config"])
    listed = listed_class_paths(capsys.readouterr().out)
    cli = LabCLI(args=args[1:], run=False)
    # Lightning adds the progress bar and model summary for trainer flags the config shows, and the CLI its
    # config-saving callback (save_config_callback); every other callback must be in the printed config.
    implied = (ProgressBar, ModelSummary, SaveConfigCallback)
    used = {f"{type(c).__module__}.{type(c).__qualname__}" for c in cli.trainer.callbacks if not isinstance(c, implied)}
    used = {"lightning.pytorch.callbacks.EarlyStopping" if p.endswith(".EarlyStopping") else p for p in used}
    assert used <= listed, used - listed
    assert {"lightning_modules.callbacks.RandomState", "lightning_modules.callbacks.TrainLoaderPlace"} <= used


def test_the_one_private_override_still_applies():
    """LabCLI overrides LightningCLI._instantiate_trainer(config, callbacks) (no public hook can drop the
    `checkpoint` callback when checkpointing is off); a Lightning release that renames it fails here."""
    assert list(LightningCLI._instantiate_trainer.__code__.co_varnames[1:3]) == ["config", "callbacks"]
    cli = LabCLI(args=["--config", XOR, *SMALL, "--trainer.enable_checkpointing", "false"], run=False)
    assert not [c for c in cli.trainer.callbacks if isinstance(c, ModelCheckpoint)]


def test_the_hparams_tab_shows_the_best_val_acc_after_the_last_epoch(in_tmp_path):
    record = json.dumps([{"class_path": "tests.utils.RecordMetric", "init_args": {"name": "val/acc"}}])
    # XOR without a transformer, on 512 examples: val/acc still rises in the third epoch (0.23, 0.50, 0.51).
    cli = LabCLI(args=["fit", "--config", str(ROOT / "configs/xor/attention_pos.yaml"), *SMALL,
                       "--data.init_args.train_size", "512", "--trainer.max_epochs", "3",
                       "--trainer.callbacks", record])  # fmt: skip
    values = cli.trainer.callbacks[0].values
    assert len(values) == 3
    events = EventAccumulator(cli.trainer.log_dir)
    events.Reload()
    logged = [e.value for e in events.Scalars("hp/best_val_acc")]
    assert logged[-1] == pytest.approx(max(values))
    assert values[-1] > max(values[:-1]), values  # improved in the last epoch: one validation behind would show


def test_a_bf16_mixed_fit_runs_on_the_cpu():
    cli = one_epoch(XOR, "--trainer.precision", "bf16-mixed", "--trainer.accelerator", "cpu")
    assert cli.trainer.precision == "bf16-mixed" and cli.trainer.state.finished
    assert torch.isfinite(cli.trainer.callback_metrics["val/loss"])
    assert next(cli.model.parameters()).dtype == torch.float32  # autocast computes in bf16, weights stay float32


def test_predict_with_a_model_that_has_no_predictions_is_one_line_naming_its_program(cli_in_tmp_path, capsys):
    shape = ["--model.init_args.transformer.d_model", "16", "--model.init_args.transformer.n_layers", "1"]
    with pytest.raises(SystemExit) as caught:
        main(["predict", "--config", str(ROOT / "configs/toy_lm/transformer.yaml"), *shape])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "a CausalLM makes no predictions of its own; use lab-generate" in err and "Traceback" not in err


def test_run_folders_are_claimed_atomically_by_concurrent_runs(tmp_path):
    experiment = tmp_path / "runs/xor/transformer"
    (experiment / "version_0").mkdir(parents=True)
    start = threading.Barrier(8)

    def claim(_):
        start.wait()
        return claim_run_folder(experiment)

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(claim, range(8)))
    assert sorted(numbers) == list(range(1, 9))  # eight runs, eight folders, none shared


@pytest.mark.slow  # two whole processes; the claim's atomicity is the threaded test above, in the default suite
def test_two_runs_started_together_write_into_two_folders(in_tmp_path):
    command = [sys.executable, str(ROOT / "train.py"), "fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "1"]
    runs = [subprocess.Popen(command, cwd=in_tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in "ab"]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read().decode()[-2000:]
    folders = sorted(in_tmp_path.glob("runs/xor/transformer/version_*"))
    assert [f.name for f in folders] == ["version_0", "version_1"]
    for folder in folders:  # each run's own config, events and checkpoints, no -v1 copies
        assert (folder / "config.yaml").is_file() and len(list(folder.glob("events.out.tfevents.*"))) == 1
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["best-epoch000.ckpt", "last.ckpt"]


def test_a_config_that_fails_to_build_leaves_no_run_folder(in_tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "fit",
                "--config",
                XOR,
                *SMALL,
                "--model.init_args.backbone.init_args.encoder.init_args.transformer.n_heads",
                "5",
            ]
        )
    assert "n_heads" in capsys.readouterr().err
    assert not list(in_tmp_path.glob("runs/xor/transformer/version_*"))
