"""run_report.py: the table and curves of runs trained in the test, drawing chosen scalars of any run, bad input."""

import statistics
import sys
from pathlib import Path

import matplotlib.image
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from lightning_modules.cli import LabCLI
from lightning_modules.run_costs import EVAL_SECONDS, PEAK_MEMORY_MB, TRAIN_SECONDS, TRAINABLE_PARAMS
from programs import run_report

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--data.init_args.train_size", "256", "--data.init_args.val_size", "128", "--data.init_args.test_size",
         "64", "--trainer.enable_progress_bar", "false", "--trainer.max_epochs", "2",
         "--trainer.log_every_n_steps", "1"]  # fmt: skip
# Two experiments, numbered so that sorting by name (exp10 before exp2) and by number disagree. In two epochs the
# one-block transformer, given more steps and a higher learning rate, solves XOR (val/acc 1.0) while attention
# alone stays at chance (0.5): the best row is the second.
EXPERIMENTS = {
    "compare/exp10": ["configs/xor/transformer.yaml",
                      "--model.init_args.backbone.init_args.encoder.init_args.transformer.n_layers", "1",
                      "--data.init_args.batch_size", "32", "--model.init_args.optimizer.init_args.lr", "0.003",
                      "--model.init_args.warmup_steps", "4"],
    "compare/exp2": ["configs/xor/attention_pos.yaml"],
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """experiment name → the run folder of a two-epoch XOR fit through the CLI."""
    root = tmp_path_factory.mktemp("trained")
    folders = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(sys, "argv", ["train.py"])
        for name, (config, *extra) in EXPERIMENTS.items():
            args = ["fit", "--config", str(ROOT / config), *SMALL, *extra, "--trainer.logger.init_args.name", name]
            folders[name] = Path(LabCLI(args=args).trainer.log_dir).resolve()
    return folders


def table(markdown: str) -> list[list[str]]:
    """The cells of the report's table, header first (the separator row left out)."""
    rows = [line.strip("|").split(" | ") for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows]


def test_the_report_tabulates_what_the_runs_logged(runs, tmp_path, capsys):
    run_report.main([str(runs["compare/exp10"]), str(runs["compare/exp2"]), "--out", str(tmp_path / "out")])
    markdown = (tmp_path / "out/report.md").read_text()
    header, *rows = table(markdown)
    assert tuple(header) == run_report.HEADER
    assert [row[0].strip("*") for row in rows] == ["2", "10"]  # by number, not by name

    best_val = {}
    for row in rows:
        name = row[1].strip("*`")
        events = EventAccumulator(str(runs[name]), size_guidance={"scalars": 0})  # read apart from run_report.py
        events.Reload()
        logged = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
        values = {tag: [v for _, v in points] for tag, points in logged.items()}
        cells = [cell.strip("*") for cell in row]
        assert cells[2].startswith("TextClassifier(backbone=EncoderClassifier(")
        assert cells[3] == f"{int(values[TRAINABLE_PARAMS][-1]):,}"
        assert cells[4] == f"{max(values['train/acc']):.4f}"
        best_step, best_val[name] = max(logged["val/acc"], key=lambda point: point[1])
        assert cells[5] == f"{best_val[name]:.4f} ({best_step})"
        assert cells[6] == f"{values[TRAIN_SECONDS][-1]:.1f} s"
        assert cells[7] == f"{statistics.median_low(values[EVAL_SECONDS]):.2f} s"
        assert cells[8] == f"{max(values[PEAK_MEMORY_MB]):.0f} MB RSS"
    bold = [row[1].strip("*`") for row in rows if row[1].startswith("**")]
    assert bold == [max(best_val, key=best_val.get)] == ["compare/exp10"]
    for column in run_report.HEADER:
        assert f"**{column}**" in markdown  # the caption explains every column

    figures = ["curves_all.png", "curves_compare_exp2.png", "curves_compare_exp10.png"]
    for figure in figures:
        assert f"]({figure})" in markdown
        pixels = matplotlib.image.imread(tmp_path / "out" / figure)
        assert pixels.shape[1] > 3 * pixels.shape[0]  # three panels side by side
        assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::7]}) > 50  # lines, labels, not blank
    assert capsys.readouterr().out.strip().endswith("report.md")


def test_the_curves_show_train_loss_val_loss_and_val_acc_over_the_global_step(runs):
    run = run_report.load_run(runs["compare/exp2"], needs_costs=True)
    run_report.name_runs([run])
    panels = run_report.curve_tags([run], "step")
    assert [(title, tags[run.name]) for title, tags in panels] == [
        ("training loss", "train/loss_step"),
        ("validation loss", "val/loss"),
        ("validation accuracy", "val/acc"),
    ]


def test_a_model_passed_in_is_described_by_its_class_and_shape_settings():
    config = {
        "class_path": "lightning_modules.classifier.TextClassifier",
        "init_args": {
            "backbone": {
                "class_path": "layers.recurrent.LSTMEncoderDecoder",
                "init_args": {"hidden_size": 256, "dropout": 0.3, "attention": True, "initial_state": None},
            },
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.001}},
            "vocab_size": 30522,
            "attention_examples": 4,
        },
    }
    expected = "TextClassifier(backbone=LSTMEncoderDecoder(hidden_size=256, dropout=0.3, attention=True))"
    assert run_report.describe(config) == expected


def test_a_typed_configuration_passed_whole_is_described_by_its_shaping_fields():
    def setting(norm_first):
        encoder = {
            "class_path": "networks.encoder_sources.ScratchEncoder",
            "init_args": {
                "transformer": {"d_model": 256, "n_heads": 4, "n_layers": 2, "norm_first": norm_first, "bias": True},
                "word_vectors": None,
            },
        }
        return {
            "class_path": "lightning_modules.classifier.TextClassifier",
            "init_args": {
                "backbone": {"class_path": "networks.classifier.EncoderClassifier", "init_args": {"encoder": encoder}}
            },
        }

    pre, post = run_report.describe(setting(True)), run_report.describe(setting(False))
    assert pre == (
        "TextClassifier(backbone=EncoderClassifier(encoder=ScratchEncoder("
        "transformer=(d_model=256, n_heads=4, n_layers=2, norm_first=True))))"
    )
    assert post != pre  # pre- and post-norm settings of the comparison no longer read alike
    pretrained = {"class_path": "networks.encoder_sources.BertEncoder", "init_args": {"name_or_dir": "minilm"}}
    assert run_report.describe(pretrained) == "BertEncoder(name_or_dir=minilm)"


def fake_run(folder: Path, tags: list[str]) -> Path:
    writer = SummaryWriter(str(folder))
    for step in range(5):
        for tag in tags:
            writer.add_scalar(tag, 1.0 / (step + 1), step * 10)
    writer.close()
    return folder


def test_the_best_validation_is_the_best_of_all_not_the_last(tmp_path):
    folder = tmp_path / "runs/compare/exp1/version_0"
    writer = SummaryWriter(str(folder))
    for step, (acc, seconds) in enumerate(zip([0.6, 0.9, 0.7], [3.0, 1.0, 2.0], strict=True), start=1):
        for tag, value in {"val/acc": acc, "train/acc": acc - 0.1, EVAL_SECONDS: seconds, TRAIN_SECONDS: 10.0 * step,
                           PEAK_MEMORY_MB: 100.0 * step, TRAINABLE_PARAMS: 1234.0}.items():  # fmt: skip
            writer.add_scalar(tag, value, 10 * step)
    writer.close()
    run = run_report.load_run(folder, needs_costs=True)
    run_report.name_runs([run])
    header, row = table(run_report.markdown_table([run_report.table_row(run)]))
    cells = dict(zip(header, (cell.strip("*") for cell in row), strict=True))
    assert cells["best val acc (step)"] == "0.9000 (20)"
    assert cells["best train acc"] == "0.8000"
    assert cells["eval time"] == "2.00 s"  # the median pass
    assert (cells["training time"], cells["peak memory"], cells["trainable params"]) == ("30.0 s", "300 MB ?", "1,234")
    assert cells["architecture"] == "(no config.yaml)"


def test_a_language_model_run_gets_its_bpc_curve_and_no_accuracy(tmp_path):
    costs = [TRAINABLE_PARAMS, TRAIN_SECONDS, EVAL_SECONDS, PEAK_MEMORY_MB]
    folder = fake_run(tmp_path / "runs/toy_lm/transformer/version_0", ["train/loss", "val/loss", "val/bpc", *costs])
    run = run_report.load_run(folder, needs_costs=True)
    run_report.name_runs([run])
    panels = run_report.curve_tags([run], "step")
    assert [(title, tags[run.name]) for title, tags in panels] == [
        ("training loss", "train/loss"),
        ("validation loss", "val/loss"),
        ("validation bits per character", "val/bpc"),
    ]
    run_report.main([str(folder), "--out", str(tmp_path / "out")])
    header, row = table((tmp_path / "out/report.md").read_text())
    assert row[header.index("best val acc (step)")] == "—" and not row[1].startswith("**")


def test_metrics_mode_draws_the_named_scalars_of_any_run(tmp_path, capsys):
    lm = fake_run(tmp_path / "toy_lm/transformer/version_0", ["train/loss", "val/bpc", "train/grad_norm", "epoch"])
    clf = fake_run(tmp_path / "imdb/baseline/version_0", ["train/loss_epoch", "val/loss", "val/acc"])
    run_report.main([str(lm), "--metrics", "train/loss", "val/bpc", "train/grad_norm", "--out", str(tmp_path / "lm")])
    assert (tmp_path / "lm/curves.png").read_bytes()[:4] == b"\x89PNG"
    run_report.main([str(clf), str(lm), "--metrics", "val/loss", "--x", "epoch", "--out", str(tmp_path / "both")])
    pixels = matplotlib.image.imread(tmp_path / "both/curves.png")
    assert pixels.shape[1] < 2 * pixels.shape[0]  # one panel
    assert capsys.readouterr().out.splitlines() == [f"1 run(s) → {tmp_path}/lm/curves.png",
                                                    f"2 run(s) → {tmp_path}/both/curves.png"]  # fmt: skip


def run_main(args: list[str], capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exit_info:
        run_report.main(args)
    return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def test_a_run_without_the_logged_figures_is_named_in_one_line(tmp_path, capsys):
    empty = tmp_path / "runs/compare/exp1/version_0"
    empty.mkdir(parents=True)
    code, err = run_main([str(empty), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err[0] == f"error: {empty}: no TensorBoard event files (events.out.tfevents.*) in this folder"

    old = fake_run(tmp_path / "runs/compare/exp2/version_0", ["train/loss_step", "val/loss", "val/acc"])
    code, err = run_main([str(old), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err[0].startswith(f"error: {old}: the logs have no cost/trainable_params, cost/train_seconds")
    assert not (tmp_path / "out/report.md").exists()

    code, err = run_main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and err[0].startswith(f"error: {tmp_path}/nowhere: no such run folder")

    code, err = run_main([str(old), "--metrics", "val/bpc", "--out", str(tmp_path / "out")], capsys)
    logged = "train/loss_step, val/acc, val/loss"
    assert code == 2 and err[0] == f"error: val/bpc (of --metrics): no run logged it; they logged {logged}"
