"""FreezeEncoderFirst: the encoder is untouched (and in eval mode) while frozen, then trained."""

import functools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

from lab_errors import InputError
from layers.transformer import TransformerConfig
from lightning_modules.finetuning import FreezeEncoderFirst
from networks.classifier import EncoderClassifier
from networks.encoder_sources import ScratchEncoder
from networks.heads import PooledHead
from tests.lightning_modules.harness import ClassifierHarness, labelled_batches

VOCAB = 30


def backbone(frozen=False):
    return functools.partial(
        EncoderClassifier,
        encoder=functools.partial(
            ScratchEncoder, transformer=TransformerConfig(d_model=16, n_heads=2, n_layers=1, max_len=16, dropout=0.1)
        ),
        head=functools.partial(PooledHead, pool="mean", dropout=0.1),
        frozen=frozen,
    )


class Snapshots(Callback):
    """The encoder's and the head's weights at the start and at the end of every epoch."""

    def __init__(self):
        self.encoder, self.head = {}, {}

    def _take(self, pl_module, key):
        net = pl_module.network
        self.encoder[key] = [p.detach().clone() for p in net.encoder.parameters()]
        self.head[key] = [p.detach().clone() for p in net.head.parameters()]

    def on_train_epoch_start(self, trainer, pl_module):
        self._take(pl_module, ("start", trainer.current_epoch))

    def on_train_epoch_end(self, trainer, pl_module):
        self._take(pl_module, ("end", trainer.current_epoch))


def fit(model, callbacks, epochs):
    trainer = L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )
    batches = DataLoader(labelled_batches(VOCAB, 3), batch_size=None)
    trainer.fit(model, batches, val_dataloaders=batches)  # validation between epochs changes modes and back
    return trainer


def changed(before, after):
    return [not torch.equal(b, a) for b, a in zip(before, after, strict=True)]


def test_the_encoder_is_unchanged_while_frozen_and_trained_after():
    model = ClassifierHarness(backbone(), VOCAB)
    snapshots = Snapshots()
    fit(model, [FreezeEncoderFirst(frozen_epochs=1), snapshots], epochs=2)
    # Epoch 0: the head learns, the encoder (weight decay included) stays exactly as it was.
    assert not any(changed(snapshots.encoder["start", 0], snapshots.encoder["end", 0]))
    assert all(changed(snapshots.head["start", 0], snapshots.head["end", 0]))
    # Epoch 1: every encoder tensor moves.
    assert all(changed(snapshots.encoder["start", 1], snapshots.encoder["end", 1]))
    # Frozen means eval mode for the encoder (its dropout off), trained means training mode.
    assert {epoch: training for epoch, training in model.encoder_training} == {0: False, 1: True}
    assert not model.network.encoder_frozen


def test_zero_frozen_epochs_trains_the_encoder_from_the_start():
    model = ClassifierHarness(backbone(), VOCAB)
    snapshots = Snapshots()
    fit(model, [FreezeEncoderFirst(frozen_epochs=0), snapshots], epochs=1)
    assert all(changed(snapshots.encoder["start", 0], snapshots.encoder["end", 0]))


def test_an_optimiser_without_the_encoder_is_refused():
    # Built frozen, an optimiser over trainable parameters only would never train the encoder after unfreezing.
    model = ClassifierHarness(backbone(frozen=True), VOCAB, only_trainable=True)
    with pytest.raises(InputError, match=r"the optimiser does not hold .* encoder parameters"):
        fit(model, [FreezeEncoderFirst(frozen_epochs=1)], epochs=2)


def test_a_model_without_an_encoder_classifier_is_refused():
    model = ClassifierHarness(lambda vocab, pad, classes: torch.nn.Linear(vocab, classes), VOCAB)
    with pytest.raises(InputError, match=r"exactly one networks\.classifier\.EncoderClassifier"):
        FreezeEncoderFirst().on_train_start(None, model)
    with pytest.raises(InputError, match="frozen_epochs must be 0 or more"):
        FreezeEncoderFirst(frozen_epochs=-1)
