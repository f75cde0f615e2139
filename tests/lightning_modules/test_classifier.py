"""SequenceClassifier: the training logic, independent of the CLI."""

import lightning as L
import pytest
import torch

from datamodules.imdb_synth import IMDbSynthDataModule
from lightning_modules.classifier import SequenceClassifier
from lightning_modules.optim import parameter_groups, warmup_decay


def trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


@pytest.mark.parametrize("encoder", ["none", "simple_attention", "attention", "transformer"])
def test_every_rung_builds_and_steps(encoder):
    dm = IMDbSynthDataModule(train_size=64, val_size=32, test_size=32, batch_size=16)
    model = SequenceClassifier(
        vocab_size=dm.vocab_size,
        encoder=encoder,
        d_model=32,
        n_heads=4,
        n_layers=2,
        positions="learned",
        max_len=8,
    )
    fit = trainer(max_epochs=1)
    fit.fit(model, dm)
    assert torch.isfinite(fit.callback_metrics["val/loss"])
    probabilities = torch.cat(fit.predict(model, dm))
    assert probabilities.shape == (32, 2)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(32))


def test_a_transformer_overfits_one_batch():
    L.seed_everything(0)
    dm = IMDbSynthDataModule(train_size=256, val_size=32, test_size=32, batch_size=32)
    model = SequenceClassifier(
        vocab_size=dm.vocab_size,
        encoder="transformer",
        d_model=32,
        n_heads=4,
        n_layers=1,
        positions="learned",
        max_len=8,
        pool="first",
        optimizer=lambda params: torch.optim.AdamW(params, lr=3e-3),
    )
    fit = trainer(max_epochs=80, overfit_batches=1, num_sanity_val_steps=0, check_val_every_n_epoch=1000)
    fit.fit(model, dm)
    assert fit.callback_metrics["train/loss_epoch"] < 0.02
    assert fit.callback_metrics["train/acc"] == 1.0


def test_hyperparameters_are_checked():
    with pytest.raises(ValueError, match="vocab_size"):
        SequenceClassifier(vocab_size=0)
    with pytest.raises(ValueError, match="dropout"):
        SequenceClassifier(vocab_size=10, dropout=1.0)
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(vocab_size=10, num_classes=1)
    with pytest.raises(ValueError, match="divisible"):
        SequenceClassifier(vocab_size=10, encoder="attention", d_model=30, n_heads=4)


def test_warmup_then_decay_schedule():
    cosine = warmup_decay(warmup_steps=10, total_steps=110, decay="cosine")
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.5) and cosine(110) == pytest.approx(0.0, abs=1e-12)
    linear = warmup_decay(0, 100, "linear")
    assert linear(0) == 1.0 and linear(50) == pytest.approx(0.5)
    assert warmup_decay(5, 100, "constant")(80) == 1.0
    with pytest.raises(ValueError, match="unknown decay"):
        warmup_decay(0, 10, "step")


def test_biases_and_norm_gains_are_not_decayed():
    model = SequenceClassifier(vocab_size=10, encoder="transformer", d_model=16, n_heads=2)
    decayed, plain = parameter_groups(model)
    assert all(p.dim() >= 2 for p in decayed["params"]) and plain["weight_decay"] == 0.0
    assert sum(p.numel() for g in (decayed, plain) for p in g["params"]) == sum(p.numel() for p in model.parameters())
