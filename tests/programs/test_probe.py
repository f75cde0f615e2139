"""probe.py: the logistic regression against Newton's method, the probe of a tiny pretraining run end to end
(every checkpoint's step, step 0 untrained, the table and the figure), and bad input in one line."""

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint

from datamodules.imdb_synth import IMDbSynthDataModule
from layers.transformer import TransformerConfig
from lightning_modules.masked_lm import MaskedLM
from lightning_modules.mlm_encoder import MaskedLMEncoder
from lightning_modules.one_line_errors import DEBUG_HINT
from programs import probe

DATA = {
    "class_path": "datamodules.imdb_synth.IMDbSynthDataModule",
    "init_args": {"train_size": 256, "val_size": 128, "test_size": 32, "batch_size": 32},
}


def newton_binary_logistic_regression(x, y, penalty, steps=30):
    """Binary logistic regression, mean log-loss + penalty/2·|w|², by Newton's method (the reference)."""
    z = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    w = torch.zeros(z.shape[1], dtype=x.dtype)
    reg = torch.full((z.shape[1],), penalty, dtype=x.dtype)
    reg[-1] = 0.0  # no penalty on the bias
    for _ in range(steps):
        p = torch.sigmoid(z @ w)
        gradient = z.T @ (p - y) / len(x) + reg * w
        hessian = (z.T * (p * (1 - p))) @ z / len(x) + torch.diag(reg)
        w = w - torch.linalg.solve(hessian, gradient)
    return w


def test_the_logistic_regression_is_the_penalised_optimum():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=generator, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.5, 2.0, 1.0])
    x = x + torch.tensor([0.5, -1.0, 2.0, 0.0, 0.0])
    y = ((x[:, 0] - 0.3 * x[:, 1] + torch.randn(400, generator=generator, dtype=torch.float64)) > 0).long()
    l2 = 0.05
    weight, bias = probe.fit_logistic_regression(x, y, l2=l2)

    # Two softmax rows with an L2 penalty are a binary regression on their difference with half the penalty,
    # in the standardised coordinates the probe penalises.
    mean, std = x.mean(0), x.std(0)
    reference = newton_binary_logistic_regression((x - mean) / std, y.double(), l2 / 2)
    ours = torch.softmax(x @ weight.T + bias, -1)[:, 1]
    theirs = torch.sigmoid(((x - mean) / std) @ reference[:-1] + reference[-1])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    assert 0.7 < probe.accuracy(weight, bias, x, y) < 1.0  # noisy labels: not separable


def test_separable_features_are_probed_perfectly():
    x = torch.cat([torch.randn(50, 3) + 4, torch.randn(50, 3) - 4])
    y = torch.cat([torch.zeros(50), torch.ones(50)]).long()
    weight, bias = probe.fit_logistic_regression(x, y)
    assert probe.accuracy(weight, bias, x, y) == 1.0


@pytest.fixture(scope="module")
def pretraining_run(tmp_path_factory):
    """A tiny MaskedLM on IMDb-synth with a checkpoint every 4 steps and last.ckpt, laid out as the CLI does."""
    root = tmp_path_factory.mktemp("mlm")
    L.seed_everything(0)
    datamodule = IMDbSynthDataModule(**DATA["init_args"])
    mlm = MaskedLM(
        vocab_size=datamodule.vocab_size,
        special_ids=datamodule.special_ids,
        transformer=TransformerConfig(d_model=16, n_heads=2, n_layers=1, max_len=8),
    )
    run = root / "version_0"
    checkpoint = ModelCheckpoint(
        dirpath=run / "checkpoints",
        filename="step{step:05d}",
        auto_insert_metric_name=False,
        monitor="val/loss",
        save_top_k=-1,
        save_last=True,
    )
    trainer = L.Trainer(
        max_steps=8,
        val_check_interval=4,
        logger=L.pytorch.loggers.TensorBoardLogger(root, name="", version=0),
        callbacks=[checkpoint],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(mlm, datamodule)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump({"data": DATA}))
    return run, config


def test_every_checkpoint_and_the_untrained_encoder_are_probed(pretraining_run, tmp_path, capsys):
    run, config = pretraining_run
    assert [c.step for c in probe.run_checkpoints(run)] == [4, 8]  # last.ckpt holds step 8 too: once
    probe.main([str(run), "--config", str(config), "--out", str(tmp_path), "--train-reviews", "128"])

    table = (tmp_path / "probe.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["0 (untrained)", "4", "8"]
    assert all(row.split("|")[2].strip() != "–" for row in rows[1:])  # val/loss as each checkpoint recorded it
    assert "| pretraining step | `val/loss` | linear-probe accuracy |" in table
    assert (tmp_path / "probe.png").stat().st_size > 5000
    assert table.splitlines()[-1] in capsys.readouterr().out

    # The accuracy of step 8 is the probe of that checkpoint's encoder, recomputed here by hand.
    datamodule = probe.load_datamodule(config)
    encoder = MaskedLMEncoder(datamodule.vocab_size, str(probe.run_checkpoints(run)[-1].file))
    x, y = probe.encoder_features(encoder, datamodule.train_dataloader(), 128)
    assert len(x) == 128 and x.shape[1] == 16
    weight, bias = probe.fit_logistic_regression(x, y)
    x_val, y_val = probe.encoder_features(encoder, datamodule.val_dataloader())
    assert len(x_val) == 128
    assert rows[-1].split("|")[3].strip() == f"{probe.accuracy(weight, bias, x_val, y_val):.4f}"


def test_bad_input_is_one_line(pretraining_run, tmp_path, capsys):
    run, config = pretraining_run
    cases = {
        "no checkpoints": ([str(tmp_path), "--config", str(config)], "no checkpoints in"),
        "config without data": ([str(run), "--config", str(tmp_path / "empty.yaml")], "no `data:` section"),
        "too few reviews": ([str(run), "--config", str(config), "--train-reviews", "1"], "at least 2 training reviews"),
    }
    (tmp_path / "empty.yaml").write_text("trainer: {}\n")
    for argv, expected in cases.values():
        with pytest.raises(SystemExit) as exit_info:
            probe.main([*argv, "--out", str(tmp_path / "out")])
        assert exit_info.value.code == 2
        message, *rest = capsys.readouterr().err.strip().splitlines()
        assert message.startswith("error: ") and expected in message, message
        assert rest == [DEBUG_HINT]  # no traceback
