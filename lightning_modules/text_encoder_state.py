"""Checkpoints that remember how text became ids, so a trained model can be used on raw text later."""

from __future__ import annotations

from typing import Any

from datamodules.contract import TextData


class TextEncoderInCheckpoint:
    """A LightningModule mixin: saves the data module's `text_encoder` (plain data: loads with
    weights_only=True) and its `max_len` into checkpoints, and restores it as `text_encoder_state`."""

    text_encoder_state: dict[str, Any] | None = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        try:
            datamodule = self.trainer.datamodule
        except RuntimeError:  # not attached to a Trainer: keep what an earlier checkpoint held
            datamodule = None
        if isinstance(datamodule, TextData):
            state = datamodule.text_encoder.state_dict()
            self.text_encoder_state = {**state, "max_len": datamodule.max_len}
        if self.text_encoder_state is not None:
            checkpoint["text_encoder"] = self.text_encoder_state

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.text_encoder_state = checkpoint.get("text_encoder")
