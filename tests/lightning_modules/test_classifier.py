"""TextClassifier: the training logic of every classifier, independent of the CLI."""

import functools

import lightning as L
import pytest
import torch

from datamodules.imdb_synth import IMDbSynthDataModule
from lab_errors import InputError
from layers.attention import MultiHeadAttention, SimpleSelfAttention
from layers.transformer import TransformerConfig
from lightning_modules.classifier import TextClassifier
from lightning_modules.optim import configure, parameter_groups, warmup_decay
from networks.classifier import EncoderClassifier
from networks.embedding_encoder import EmbeddingEncoder
from networks.encoder_sources import ScratchEncoder
from networks.heads import PooledHead
from networks.recurrent_classifier import RecurrentClassifier


def trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def ladder(encoder: str, pool: str = "mean", **transformer) -> functools.partial:
    """The classic ladder's rung `encoder` as a backbone of width 32 over 8 positions."""
    if encoder == "transformer":
        shape = {"d_model": 32, "n_heads": 4, "n_layers": 2, "max_len": 8, "activation": "relu", **transformer}
        config = TransformerConfig(**shape)
        source = functools.partial(ScratchEncoder, transformer=config)
    else:
        mixers = {
            "none": None,
            "simple_attention": SimpleSelfAttention,
            "attention": functools.partial(MultiHeadAttention, 32, 4),
        }
        mixer = mixers[encoder]
        source = functools.partial(
            EmbeddingEncoder, d_model=32, positions="learned", max_len=8, mixer=mixer and mixer()
        )
    head = functools.partial(PooledHead, pool=pool, dropout=0.0)
    return functools.partial(EncoderClassifier, encoder=source, head=head)


@pytest.mark.parametrize("encoder", ["none", "simple_attention", "attention", "transformer"])
def test_every_rung_builds_and_steps(encoder):
    dm = IMDbSynthDataModule(train_size=64, val_size=32, test_size=32, batch_size=16)
    model = TextClassifier(ladder(encoder), vocab_size=dm.vocab_size, pad_id=dm.pad_id)
    fit = trainer(max_epochs=1)
    fit.fit(model, dm)
    assert torch.isfinite(fit.callback_metrics["val/loss"])
    probabilities = torch.cat(fit.predict(model, dm))
    assert probabilities.shape == (32, 2)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(32))


def test_a_transformer_overfits_one_batch():
    L.seed_everything(0)
    dm = IMDbSynthDataModule(train_size=256, val_size=32, test_size=32, batch_size=32)
    model = TextClassifier(
        ladder("transformer", pool="first", n_layers=1, dropout=0.0),
        vocab_size=dm.vocab_size,
        optimizer=lambda params: torch.optim.AdamW(params, lr=3e-3),
    )
    fit = trainer(max_epochs=80, overfit_batches=1, num_sanity_val_steps=0, check_val_every_n_epoch=1000)
    fit.fit(model, dm)
    assert fit.callback_metrics["train/loss_epoch"] < 0.02
    assert fit.callback_metrics["train/acc"] == 1.0


def test_hyperparameters_are_checked():
    with pytest.raises(InputError, match="vocab_size"):
        TextClassifier(ladder("none"), vocab_size=0)
    with pytest.raises(InputError, match="num_classes"):
        TextClassifier(ladder("none"), vocab_size=10, num_classes=1)
    with pytest.raises(ValueError, match="divisible"):
        TextClassifier(ladder("transformer", d_model=30), vocab_size=10)


def test_data_longer_than_the_positions_is_refused_when_training_starts():
    dm = IMDbSynthDataModule(train_size=64, val_size=32, test_size=32, batch_size=16)
    dm.max_len = 12  # the network of ladder() has 8 positions
    with pytest.raises(InputError, match=r"data module's max_len \(12\) is longer than the network reads"):
        trainer(max_epochs=1).fit(TextClassifier(ladder("attention"), vocab_size=dm.vocab_size), dm)


def test_warmup_then_decay_schedule():
    cosine = warmup_decay(warmup_steps=10, total_steps=110, decay="cosine")
    assert cosine(0) == pytest.approx(0.1) and cosine(9) == pytest.approx(1.0)
    assert cosine(60) == pytest.approx(0.5) and cosine(110) == pytest.approx(0.0, abs=1e-12)
    linear = warmup_decay(0, 100, "linear")
    assert linear(0) == 1.0 and linear(50) == pytest.approx(0.5)
    assert warmup_decay(5, 100, "constant")(80) == 1.0
    with pytest.raises(ValueError, match="unknown decay"):
        warmup_decay(0, 10, "step")


def test_decay_can_end_at_a_floor():
    cosine = warmup_decay(warmup_steps=10, total_steps=110, decay="cosine", min_ratio=0.1)  # nanoGPT: 1e-3 → 1e-4
    assert cosine(9) == pytest.approx(1.0) and cosine(60) == pytest.approx(0.55) and cosine(110) == pytest.approx(0.1)
    model = torch.nn.Linear(2, 2)
    scheduled = configure(torch.optim.SGD(model.parameters(), lr=1e-3), 10, 110, "cosine", min_ratio=0.1)
    scheduler = scheduled["lr_scheduler"]["scheduler"]
    for _ in range(110):
        scheduled["optimizer"].step()
        scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(1e-4)]
    with pytest.raises(InputError, match="lr_min_ratio"):
        configure(torch.optim.SGD(model.parameters(), lr=1e-3), 10, 110, "cosine", min_ratio=1.5)


def test_biases_and_norm_gains_are_not_decayed():
    model = TextClassifier(ladder("transformer"), vocab_size=10)
    decayed, plain = parameter_groups(model)
    assert all(p.dim() >= 2 for p in decayed["params"]) and plain["weight_decay"] == 0.0
    assert sum(p.numel() for g in (decayed, plain) for p in g["params"]) == sum(p.numel() for p in model.parameters())


def tiny_recurrent(**kwargs):
    return functools.partial(RecurrentClassifier, embed_dim=8, hidden_size=6, **kwargs)


@pytest.mark.parametrize(
    "backbone",
    [
        tiny_recurrent(decoder="attention", dropout=0.1),
        ladder("transformer", norm="post"),
    ],
    ids=["recurrent", "transformer"],
)
def test_text_classifier_trains_and_round_trips_through_a_checkpoint(backbone, tmp_path):
    dm = IMDbSynthDataModule(train_size=64, val_size=32, test_size=32, batch_size=16)
    model = TextClassifier(backbone, vocab_size=dm.vocab_size, pad_id=dm.pad_id)
    fit = trainer(max_epochs=1)
    fit.fit(model, dm)
    for name in ("train/loss_step", "train/acc", "val/loss", "val/acc"):
        assert torch.isfinite(fit.callback_metrics[name]), name
    path = tmp_path / "model.ckpt"
    fit.save_checkpoint(path)
    # Plain data in the checkpoint: the backbone's class path and arguments, not a callable.
    spec = torch.load(path, weights_only=True)["hyper_parameters"]["backbone"]
    cls = type(model.network)
    assert spec["class_path"] == f"{cls.__module__}.{cls.__name__}"
    assert "functools" not in repr(spec) and "object at" not in repr(spec)
    loaded = TextClassifier.load_from_checkpoint(path, weights_only=True)
    assert type(loaded.network) is type(model.network)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    probabilities = torch.cat(fit.predict(model, dm))
    assert probabilities.shape == (32, 2)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(32))
    torch.testing.assert_close(torch.cat(trainer().predict(loaded, dm)), probabilities)


def test_text_classifier_builds_its_backbone_from_a_class_or_a_class_path():
    from_class = TextClassifier(RecurrentClassifier, vocab_size=20)
    spec = {"class_path": "networks.recurrent_classifier.RecurrentClassifier", "init_args": {"hidden_size": 4}}
    from_path = TextClassifier(spec, vocab_size=20, num_classes=3)
    assert from_class.network.head.in_features == 2 * 256  # the backbone's defaults
    assert from_path.network.head.in_features == 8 and from_path.network.head.out_features == 3
    assert from_path.hparams.backbone == spec


@pytest.mark.parametrize(
    ("backbone", "expected"),
    [
        ({"init_args": {}}, "backbone needs a class_path"),
        ({"class_path": "layers.nowhere.Net"}, "backbone 'layers.nowhere.Net' cannot be built"),
        ({"class_path": "torch.optim.AdamW"}, "backbone 'torch.optim.AdamW' cannot be built"),
        (tiny_recurrent(decoder="gru"), "decoder 'gru' is unknown"),
    ],
)
def test_a_bad_backbone_ends_in_one_line(backbone, expected):
    with pytest.raises(InputError) as info:
        TextClassifier(backbone, vocab_size=20)
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_a_backbone_that_is_not_data_trains_and_says_its_checkpoint_needs_it_again(tmp_path):
    composed_of_an_instance = functools.partial(
        EncoderClassifier, encoder=lambda vocab: EmbeddingEncoder(vocab, d_model=8), head=PooledHead
    )
    dm = IMDbSynthDataModule(train_size=32, val_size=16, test_size=16, batch_size=16)
    model = TextClassifier(composed_of_an_instance, vocab_size=dm.vocab_size)
    assert model.hparams.backbone is None
    fit = trainer(max_epochs=1)
    fit.fit(model, dm)
    with pytest.warns(UserWarning, match="load its checkpoints with backbone= given again"):
        fit.save_checkpoint(tmp_path / "model.ckpt")
    loaded = TextClassifier.load_from_checkpoint(tmp_path / "model.ckpt", backbone=composed_of_an_instance)
    torch.testing.assert_close(
        loaded.state_dict()["network.head.out.weight"], model.state_dict()["network.head.out.weight"]
    )
