"""Checkpoints that remember how text became ids, so a trained model can be used on raw text later."""

from __future__ import annotations

from typing import Any

from datamodules.contract import TextData
from datamodules.encoders import TextEncoder

MODEL_CLASS_KEY = "model_class_path"


class TextEncoderInCheckpoint:
    """A LightningModule mixin: saves the data module's `text_encoder` (plain data: loads with
    weights_only=True), its `max_len` and `keep_tail` into checkpoints, and restores them as
    `text_encoder_state`; records the model's class path too, so that loading knows which model a checkpoint holds."""

    text_encoder_state: dict[str, Any] | None = None
    _text_encoder: TextEncoder | None = None

    @property
    def text_encoder(self) -> TextEncoder | None:
        """The data's text encoder as it was when the checkpoint was saved (built once), or None without one."""
        if self._text_encoder is None and self.text_encoder_state is not None:
            self._text_encoder = TextEncoder.from_state(self.text_encoder_state)
        return self._text_encoder

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        try:
            datamodule = self.trainer.datamodule
        except RuntimeError:  # not attached to a Trainer: keep what an earlier checkpoint held
            datamodule = None
        if isinstance(datamodule, TextData):
            state = datamodule.text_encoder.state_dict()
            self.text_encoder_state = {**state, "max_len": datamodule.max_len, "keep_tail": datamodule.keep_tail}
        if self.text_encoder_state is not None:
            checkpoint["text_encoder"] = self.text_encoder_state
        # Which model this is, also for a checkpoint saved outside LightningCLI (which records `_class_path` in
        # the hyperparameters only when it built the model): lightning_modules/checkpoints.py's check_task.
        checkpoint[MODEL_CLASS_KEY] = f"{type(self).__module__}.{type(self).__qualname__}"

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.text_encoder_state = checkpoint.get("text_encoder")
        self._text_encoder = None
