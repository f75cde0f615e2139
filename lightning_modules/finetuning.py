"""Freeze, then fine-tune: the pretrained encoder stays frozen for the first epochs while the head learns,
then the whole network trains.

Training a freshly initialised head on top of a pretrained encoder at once sends the head's large early
gradients into the encoder and can wreck what pretraining learned; a few head-only epochs first avoid it.

In the config (the model's backbone an EncoderClassifier, networks/classifier.py):

    trainer:
      callbacks:
        - class_path: lightning_modules.finetuning.FreezeEncoderFirst
          init_args: {frozen_epochs: 1}

The optimiser holds every parameter from the start (the backbone is built with `frozen: false`): while the
encoder is frozen its parameters get no gradient, and AdamW leaves a parameter without a gradient untouched
(no step, no weight decay, no moment update), so unfreezing needs no change to the optimiser. The callback
checks at the start of training that the optimiser does hold the encoder's parameters.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info

from lab_errors import InputError
from networks.classifier import EncoderClassifier


def encoder_classifier(pl_module: L.LightningModule) -> EncoderClassifier:
    """The one EncoderClassifier inside the model."""
    nets = [m for m in pl_module.modules() if isinstance(m, EncoderClassifier)]
    if len(nets) != 1:
        raise InputError(
            f"FreezeEncoderFirst needs a model with exactly one networks.classifier.EncoderClassifier "
            f"backbone; {type(pl_module).__name__} has {len(nets)}"
        )
    return nets[0]


class FreezeEncoderFirst(Callback):
    """The backbone's encoder is frozen (no gradients, eval mode) during epochs 0 … frozen_epochs − 1 and
    trained from epoch `frozen_epochs` on. Follows the epoch number, so a resumed run is in the right phase."""

    def __init__(self, frozen_epochs: int = 1) -> None:
        if frozen_epochs < 0:
            raise InputError(f"frozen_epochs must be 0 or more, got {frozen_epochs}")
        self.frozen_epochs = frozen_epochs

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        net = encoder_classifier(pl_module)
        groups = [group for optimizer in trainer.optimizers for group in optimizer.param_groups]
        optimised = {id(p) for group in groups for p in group["params"]}
        missing = [name for name, p in net.encoder.named_parameters() if id(p) not in optimised]
        if missing:
            raise InputError(
                f"the optimiser does not hold {len(missing)} encoder parameters (e.g. {missing[0]}), so unfreezing "
                "would not train them: build the backbone with frozen: false and let this callback freeze it"
            )

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        net = encoder_classifier(pl_module)
        frozen = trainer.current_epoch < self.frozen_epochs
        if frozen != net.encoder_frozen:
            rank_zero_info(f"epoch {trainer.current_epoch}: encoder {'frozen' if frozen else 'unfrozen: fine-tuning'}")
        net.freeze_encoder(frozen)
