"""One way to load a trained model: `load_model(path, TextClassifier)` returns the LightningModule a checkpoint
holds, in eval mode, with the data module's text encoder it was trained with, reading the file once.

Which model a checkpoint holds is what LightningCLI recorded in its hyperparameters (`_class_path`), checked
against the task the caller expects (a sentiment program wants a TextClassifier, generation a CausalLM); a
checkpoint of another task, a damaged file or an old layout is an InputError naming the file. The model is
built from the hyperparameters the way Lightning's own `load_from_checkpoint` builds it (through
`lightning.pytorch.cli.instantiate_module` when the CLI wrote them, so composed modules rebuild), then its
weights and its text encoder are restored from the same loaded file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import torch
from lightning.pytorch.cli import instantiate_module

from lab_errors import InputError
from lightning_modules.checkpoints import check_task, read_checkpoint

ModelT = TypeVar("ModelT", bound=L.LightningModule)
CLI_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"


def load_model(
    path: str | Path,
    expected: type[ModelT],
    map_location: str | torch.device = "cpu",
    weights_only: bool = True,
) -> ModelT:
    """The `expected` model (or a subclass) in the checkpoint `path`, in eval mode on `map_location`.

    Its `text_encoder_state` (the data module's tokenizer and vocabulary, when it was saved with one) is
    restored with its weights; `model.text_encoder` turns raw text into ids as in training."""
    checkpoint = read_checkpoint(path, weights_only=weights_only)
    cls = check_task(path, checkpoint, expected)
    model = build_from_hparams(cls, dict(checkpoint.get("hyper_parameters") or {}), path)
    model.on_load_checkpoint(checkpoint)
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    return model.to(map_location).eval()


def build_from_hparams(cls: type[ModelT], hparams: dict[str, Any], path: str | Path) -> ModelT:
    """The model its saved hyperparameters describe: as LightningCLI built it when the CLI recorded them."""
    if hparams.pop("_instantiator", None) == CLI_INSTANTIATOR:
        return instantiate_module(cls, hparams)
    hparams.pop("_class_path", None)
    try:
        return cls(**hparams)
    except TypeError as err:
        raise InputError(f"{path}: its hyperparameters do not build a {cls.__name__}: {err}") from err
