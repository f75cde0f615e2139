"""train.py end to end: every config runs, resumption is exact, bad input ends in one clear line."""

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lightning_modules.cli import LabCLI, experiment_name, main, one_line
from tests.fixtures import composed_configs, config_overrides, experiment_configs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = experiment_configs()
XOR = str(ROOT / "configs/xor/transformer.yaml")
IMDB_SYNTH_ATTENTION = str(ROOT / "configs/imdb_synth/attention.yaml")
SMALL = [
    "--data.init_args.train_size",
    "512",
    "--data.init_args.val_size",
    "256",
    "--data.init_args.test_size",
    "128",
    "--trainer.enable_progress_bar",
    "false",
]


@pytest.fixture(autouse=True)
def in_tmp_path(cli_in_tmp_path):
    return cli_in_tmp_path


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_config_passes_a_fast_dev_run(config, corpora):
    args = ["fit", "--config", str(config), "--trainer.fast_dev_run", "true", *config_overrides(config, corpora)]
    cli = LabCLI(args=args)
    assert cli.trainer.state.finished
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss_step"] if "train/loss_step" in metrics else metrics["train/loss"])


def dotted(settings: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize(
    ("base", "composition"), composed_configs(), ids=lambda p: str(p.relative_to(ROOT / "configs"))
)
def test_every_composition_on_its_base_passes_a_fast_dev_run_and_takes_effect(base, composition, corpora):
    import yaml

    args = ["fit", "--config", str(base), "--config", str(composition), "--trainer.fast_dev_run", "true"]
    cli = LabCLI(args=args + config_overrides(base, corpora))
    assert cli.trainer.state.finished
    for key, value in dotted(yaml.safe_load(composition.read_text())).items():
        assert cli.config[f"fit.{key}"] == value, key
    assert experiment_name([base, composition]) == str(composition.relative_to(ROOT / "configs").with_suffix(""))


def fit(*args: str) -> LabCLI:
    return LabCLI(
        args=[
            "fit",
            "--config",
            XOR,
            *SMALL,
            "--trainer.max_epochs",
            "3",
            "--model.init_args.backbone.init_args.encoder.init_args.transformer.dropout",
            "0.1",
            *args,
        ]
    )


def test_resuming_with_ckpt_path_last_finishes_like_an_uninterrupted_run():
    straight = fit("--trainer.logger.init_args.name", "straight")
    stop = json.dumps([{"class_path": "tests.utils.StopAfterEpoch", "init_args": {"epochs": 1}}])
    interrupted = fit("--trainer.logger.init_args.name", "resumed", "--trainer.callbacks", stop)
    assert interrupted.trainer.current_epoch == 1  # stopped after one of three epochs
    resumed = fit("--trainer.logger.init_args.name", "resumed", "--ckpt_path", "last")

    assert resumed.trainer.current_epoch == straight.trainer.current_epoch == 3
    assert resumed.trainer.log_dir == interrupted.trainer.log_dir  # continued in the same run folder
    for name in ("val/loss", "val/acc"):
        torch.testing.assert_close(
            resumed.trainer.callback_metrics[name], straight.trainer.callback_metrics[name], rtol=0, atol=0
        )
    for (name, a), b in zip(resumed.model.state_dict().items(), straight.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m, n=name: f"{n}: {m}")


def test_a_run_logs_scalars_hyperparameters_and_attention_images(in_tmp_path):
    cli = LabCLI(
        args=[
            "fit",
            "--config",
            IMDB_SYNTH_ATTENTION,
            *SMALL,
            "--trainer.max_epochs",
            "1",
            "--trainer.log_every_n_steps",
            "1",
        ]
    )
    run_dir = Path(cli.trainer.log_dir).resolve()
    assert run_dir == in_tmp_path / "runs/imdb_synth/attention/version_0"
    assert (run_dir / "config.yaml").exists() and (run_dir / "hparams.yaml").exists()
    assert (run_dir / "checkpoints/last.ckpt").exists() and list(run_dir.glob("checkpoints/best-*.ckpt"))
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss_epoch", "val/loss", "val/acc", "hp/best_val_acc"} <= set(tags["scalars"])
    assert any(t.startswith("lr-") for t in tags["scalars"])
    assert tags["images"] == ["val/attention"]
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")  # the HParams tab has the run


def test_a_run_without_a_logger_writes_nothing_into_the_working_directory(in_tmp_path):
    LabCLI(args=["fit", "--config", XOR, *SMALL, "--trainer.max_epochs", "1", "--trainer.logger", "false",
                 "--trainer.enable_checkpointing", "false"])  # fmt: skip
    assert list(in_tmp_path.iterdir()) == []


def test_test_subcommand_with_ckpt_path_best():
    fit("--trainer.max_epochs", "1")
    cli = LabCLI(args=["test", "--config", XOR, *SMALL, "--ckpt_path", "best"])
    assert 0.0 <= float(cli.trainer.callback_metrics["test/acc"]) <= 1.0


def run_main(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return exit_info.value.code, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model.init_args.backbone.init_args.head.init_args.pool", "avg"], "avg"),
        (["--model.init_args.backbone.init_args.encoder.init_args.transformer.norm", "sandwich"], "sandwich"),
        (["--model.init_args.backbone.init_args.head.init_args.poool", "mean"], "poool"),
        (["--data.init_args.train_size", "-5"], "train_size must be positive, got -5"),
        (["--model.init_args.backbone.init_args.encoder.init_args.transformer.n_heads", "7"], "divisible"),
        (
            ["--model.init_args.backbone.init_args.encoder.init_args.transformer.d_model", "-3"],
            "d_model must be a positive integer",
        ),
    ],
)
def test_bad_input_ends_in_one_clear_line_and_leaves_no_run_folder(args, expected, capsys, in_tmp_path):
    code, err = run_main(["fit", "--config", XOR, *SMALL, *args], capsys)
    assert code == 2
    assert err[0].startswith("error: ") and expected in err[0], err
    assert len(err) <= 2  # the message and a hint, no traceback, no usage text
    assert not list(in_tmp_path.glob("runs/*/*/version_*"))


def test_unknown_key_in_a_yaml_file_is_reported(capsys, in_tmp_path):
    bad = in_tmp_path / "bad.yaml"
    bad.write_text(Path(XOR).read_text().replace("pool: first", "pool: first\n            pooling_size: 3"))
    code, err = run_main(["fit", "--config", str(bad)], capsys)
    assert code == 2 and "pooling_size" in err[0]


def test_a_run_that_fails_after_starting_removes_its_folder(capsys, in_tmp_path):
    # max_len 4 < the 6 tokens of an IMDb-synth example: the first forward pass fails.
    code, err = run_main(
        [
            "fit",
            "--config",
            IMDB_SYNTH_ATTENTION,
            *SMALL,
            "--model.init_args.backbone.init_args.encoder.init_args.positions",
            "learned",
            "--model.init_args.backbone.init_args.encoder.init_args.max_len",
            "4",
        ],
        capsys,
    )
    assert code == 2 and "max_len is 4" in err[0]
    assert not list(in_tmp_path.glob("runs/*/*/version_*"))


def test_print_config_shows_the_resolved_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", XOR, "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    model = out.split("\nmodel:")[1].split("\ndata:")[0]
    assert "class_path: networks.encoder_sources.ScratchEncoder" in model
    assert "transformer:" in model and "n_heads: 4" in model and "eps: 1.0e-05" in model  # every field, typed
    assert "vocab_size" not in out.split("data:")[1]


def test_experiment_names_come_from_config_paths():
    assert experiment_name(["configs/xor/transformer.yaml"]) == "xor/transformer"
    assert experiment_name(["/abs/repo/configs/imdb/glove_transformer.yaml"]) == "imdb/glove_transformer"
    assert experiment_name(["elsewhere/mine.yaml"]) == "elsewhere/mine"
    assert experiment_name([]) == "default"
    message = "Parser key \"model\":\n  Errors:\n    - Problem with given class_path 'x':\n"
    message += "        No module named 'y'"
    assert one_line(message) == "model: No module named 'y'"


def test_a_language_model_resumes_and_tests_from_its_checkpoints(corpora):
    # CausalLM takes none of num_classes, pad_id and special_ids, which the CLI links for other models.
    config = str(ROOT / "configs/toy_lm/transformer.yaml")
    small = [
        "--data.init_args.train_chars",
        "3000",
        "--data.init_args.val_chars",
        "600",
        "--data.init_args.batches_per_epoch",
        "3",
        "--data.init_args.last_token_batches",
        "2",
        "--model.init_args.transformer.n_layers",
        "1",
        "--trainer.enable_progress_bar",
        "false",
    ]
    LabCLI(args=["fit", "--config", config, *small, "--trainer.max_epochs", "1"])
    resumed = LabCLI(args=["fit", "--config", config, *small, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert resumed.trainer.current_epoch == 2
    tested = LabCLI(args=["test", "--config", config, *small, "--ckpt_path", "best"])
    assert 0 < float(tested.trainer.callback_metrics["test/bpc"]) < 8


def steps_in(checkpoint: Path) -> int:
    return torch.load(checkpoint, weights_only=True, mmap=True)["global_step"]


def test_last_ckpt_is_the_final_state_even_when_the_monitored_metric_stops_improving(in_tmp_path):
    # train/loss_epoch falls, so with mode max only the first epoch is ever "best".
    cli = fit("--checkpoint.monitor", "train/loss_epoch", "--checkpoint.mode", "max")
    checkpoints = Path(cli.trainer.log_dir) / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("*.ckpt")) == ["best-epoch000.ckpt", "last.ckpt"]
    assert steps_in(checkpoints / "last.ckpt") == cli.trainer.global_step == 12  # 3 epochs of 4 steps
    assert steps_in(checkpoints / "best-epoch000.ckpt") == 4


def test_last_ckpt_follows_every_n_train_steps_and_max_steps_mid_epoch(in_tmp_path):
    cli = fit("--checkpoint.every_n_train_steps", "3", "--trainer.max_steps", "7")
    assert steps_in(Path(cli.trainer.log_dir) / "checkpoints/last.ckpt") == 7  # the end, between two saves


def test_sigterm_saves_that_moment_exits_143_and_resumes_exactly(capsys):
    """SIGTERM mid-epoch (step 6 of 12, the second of epoch 1's four batches): the run saves, exits with 128 + 15,
    and `--ckpt_path last` finishes with the metrics and weights of a run that was never interrupted."""
    straight = fit("--trainer.logger.init_args.name", "straight")
    sigterm = json.dumps([{"class_path": "tests.utils.SigtermAtStep", "init_args": {"step": 6}}])
    xor = ["--config", XOR, *SMALL, "--trainer.max_epochs", "3"]
    dropout = ["--model.init_args.backbone.init_args.encoder.init_args.transformer.dropout", "0.1"]
    name = ["--trainer.logger.init_args.name", "resumed"]
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *xor, *dropout, *name, "--trainer.callbacks", sigterm])
    assert stopped.value.code == 143
    assert "SIGTERM at step 6: saved" in capsys.readouterr().err
    last = Path("runs/resumed/version_0/checkpoints/last.ckpt")
    assert steps_in(last) == 6

    resumed = fit(*name, "--ckpt_path", "last")
    assert resumed.trainer.global_step == straight.trainer.global_step == 12
    for metric in ("val/loss", "val/acc", "train/loss_epoch"):
        torch.testing.assert_close(
            resumed.trainer.callback_metrics[metric], straight.trainer.callback_metrics[metric], rtol=0, atol=0
        )
    for (key, a), b in zip(resumed.model.state_dict().items(), straight.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m, n=key: f"{n}: {m}")
    # The interrupted epoch's own means too: its first two batches were seen before the SIGTERM.
    for tag in ("train/loss_epoch", "train/acc", "val/loss"):
        assert logged(Path(resumed.trainer.log_dir), tag) == logged(Path(straight.trainer.log_dir), tag), tag


def logged(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]
