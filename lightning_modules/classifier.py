"""Sequence classification: TextClassifier, the one LightningModule that trains a classifier, whatever network
the config composes (networks/classifier.py's EncoderClassifier of an encoder and a head, or any module that
maps ids and a mask to logits, such as networks/recurrent_classifier.py's RecurrentClassifier)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from jsonargparse import ArgumentError, ArgumentParser
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy

from datamodules.contract import TextData, require_text_data
from lab_errors import InputError, first_line
from lightning_modules import optim
from lightning_modules.epoch_metrics import ResumableEpochMetrics
from lightning_modules.lengths import check_lengths
from lightning_modules.logger_media import log_figure, takes_media
from lightning_modules.plots import attention_figure
from lightning_modules.text_encoder_state import TextEncoderInCheckpoint
from networks.classifier import EncoderClassifier
from networks.word_vectors import WordVectorStart

STAGES = ("train", "val", "test")
FIGURE_TOKENS = 40  # attention figures show at most this many tokens of each example

BackboneFactory = Callable[[int, int, int], nn.Module]


class TextClassifier(ResumableEpochMetrics, TextEncoderInCheckpoint, optim.WarmupDecayOptimization, L.LightningModule):
    """Token ids → class, trained with cross-entropy; logs `{stage}/loss` and `{stage}/acc`.

    backbone: a module class given as class_path/init_args, called as backbone(vocab_size, pad_id, num_classes)
    (the data module supplies those three), whose module maps (input_ids (B, T), attention_mask (B, T) bool)
    → logits (B, C):

        model:
          class_path: lightning_modules.classifier.TextClassifier
          init_args:
            backbone:
              class_path: networks.classifier.EncoderClassifier
              init_args:
                encoder: {class_path: networks.embedding_encoder.EmbeddingEncoder, init_args: {d_model: 64}}
                head: {class_path: networks.heads.PooledHead, init_args: {pool: mean}}

    Predictions are softmax probabilities (B, C). When a fit starts, encoders that start from word vectors
    (networks/word_vectors.py) read them for the data's vocabulary. On each validation end a figure of the
    attention weights of `attention_examples` validation examples goes to TensorBoard, when the network has
    attention weights to show. Checkpoints carry the data module's text encoder, so programs/sentiment.py can
    classify raw text with them, and the backbone as plain class_path/init_args, so they rebuild the network.
    """

    def __init__(
        self,
        backbone: BackboneFactory,
        vocab_size: int,
        num_classes: int = 2,
        pad_id: int = 0,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        warmup_steps: int = 0,
        lr_decay: optim.Decay = "constant",
        attention_examples: int = 4,
    ) -> None:
        super().__init__()
        if vocab_size is None or vocab_size <= 0:
            raise InputError(f"vocab_size must be a positive integer, got {vocab_size}")
        if num_classes is None or num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        if attention_examples < 0:
            raise InputError(f"attention_examples must be 0 or more, got {attention_examples}")
        self.save_hyperparameters(ignore=["optimizer"])
        # Under LightningCLI the hyperparameters are the config itself (the backbone as class_path/init_args);
        # built in Python, the backbone is a class or a functools.partial of one, kept as the same plain data.
        # None when it cannot be (a lambda, a module instance composed inside, a partial jsonargparse made when
        # load_from_checkpoint rebuilt the model: on_load_checkpoint then restores the checkpoint's own).
        self.hparams["backbone"] = backbone_spec(self.hparams["backbone"])
        factory = build_backbone(backbone) if isinstance(backbone, dict) else backbone
        self.network = factory(vocab_size, pad_id, num_classes)
        self.optimizer = optimizer
        self.accuracy = nn.ModuleDict({f"{s}_acc": MulticlassAccuracy(num_classes) for s in STAGES})
        self.train_loss = MeanMetric()  # the epoch's train/loss, resumable mid-epoch (epoch_metrics.py)
        self._attention_batch: dict[str, Tensor] | None = None

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.network(input_ids, attention_mask)  # (B, C) logits

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        if self.hparams.get("backbone") is None:
            self.hparams["backbone"] = (checkpoint.get("hyper_parameters") or {}).get("backbone")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.hparams.get("backbone") is None:
            rank_zero_warn(
                "this TextClassifier's backbone could not be kept as class_path/init_args (compose it of classes or "
                "functools.partial, not module instances): load its checkpoints with backbone= given again"
            )

    @property
    def max_input_len(self) -> int | None:
        """How many tokens the network can read (its positions cover max_len of them); None when unbounded."""
        return self.network.max_len if isinstance(self.network, EncoderClassifier) else None

    def setup(self, stage: str) -> None:
        data = self.trainer.datamodule
        if isinstance(data, TextData):
            check_lengths(data.max_len, self.max_input_len)
        # Only a fresh fit reads the vectors; a resumed run's checkpoint then restores the trained ones.
        starts = [m for m in self.network.modules() if isinstance(m, WordVectorStart) and m.word_vectors]
        if stage == "fit" and starts:
            data = require_text_data(data, "word_vectors")
            for encoder in starts:
                rank_zero_info(f"{encoder.word_vectors}: {encoder.load_vectors(data.i2w, data.special_ids)}")

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels)
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy(logits, labels)
        size = labels.shape[0]
        if stage == "train":
            self.train_loss(loss.detach(), weight=size)  # step value: this batch's; epoch value: the weighted mean
            self.log("train/loss", self.train_loss, on_step=True, on_epoch=True, batch_size=size)
        else:
            self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=size, prog_bar=True)
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, batch_size=size, prog_bar=True)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def resumable_epoch_metrics(self) -> dict[str, Metric]:
        return {"train_loss": self.train_loss, "train_acc": self.accuracy["train_acc"]}

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch_idx == 0 and self.hparams.attention_examples:  # kept for the attention figure at the epoch's end
            self._attention_batch = {k: v[: self.hparams.attention_examples] for k, v in batch.items()}
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Class probabilities (B, C); column 1 is the positive class for sentiment."""
        return self(batch["input_ids"], batch["attention_mask"]).softmax(dim=-1)

    def on_validation_epoch_end(self) -> None:
        batch, self._attention_batch = self._attention_batch, None
        network = self.network
        if batch is None or self.trainer.sanity_checking:
            return
        if not (isinstance(network, EncoderClassifier) and network.shows_attention):
            return
        if not takes_media(self.loggers):
            return
        with torch.no_grad():
            logits, weights = network(batch["input_ids"], batch["attention_mask"], return_weights=True)
        probs = logits.softmax(dim=-1)
        data = self.trainer.datamodule  # None when fit was given bare dataloaders: the figure shows ids
        decode = data.decode if isinstance(data, TextData) else None
        examples, captions = [], []
        for i, ids in enumerate(batch["input_ids"]):
            n = min(int(batch["attention_mask"][i].sum()), FIGURE_TOKENS)
            tokens = decode(ids[:n]) if decode else [str(int(t)) for t in ids[:n]]
            examples.append((tokens, [w[i, ..., :n, :n] for w in weights]))
            label = int(batch["labels"][i])
            captions.append(f"label {label}, p = {probs[i, label]:.2f}")
        figure = attention_figure(examples, captions)
        log_figure(self.loggers, "val/attention", figure, self.global_step)


def backbone_spec(backbone: Any) -> dict | None:
    """{"class_path": …, "init_args": {…}} of a backbone given as that mapping (a config, a checkpoint's
    hyperparameters), a module class, or a functools.partial of one with keyword arguments, whose composed
    modules (an encoder, a head) become nested class_path/init_args too: the checkpoint keeps plain data only,
    which weights_only loading accepts. None when it cannot be written as data (a lambda, a module instance
    inside): TextClassifier then warns that loading needs the backbone given again."""
    if isinstance(backbone, dict):
        if "class_path" not in backbone:
            raise InputError(f"backbone needs a class_path (and init_args), got {backbone}")
        return {"class_path": backbone["class_path"], "init_args": dict(backbone.get("init_args") or {})}
    return _factory_spec(backbone)


def _factory_spec(value: Any) -> dict | None:
    """A module class or a functools.partial of one (keywords only) as class_path/init_args, nested; None for
    anything else. Only functools' public attributes are read: under LightningCLI the hyperparameters are the
    config's own class_path/init_args, so a partial the CLI made is never taken apart here."""
    cls, init_args = value, {}
    if isinstance(value, functools.partial):
        if value.args:
            return None
        cls, init_args = value.func, dict(value.keywords)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return None
    nested = {}
    for key, arg in init_args.items():
        if isinstance(arg, nn.Module):
            return None  # an instance's own arguments are not recoverable
        if isinstance(arg, type | functools.partial):
            arg = _factory_spec(arg)
            if arg is None:
                return None
        elif dataclasses.is_dataclass(arg):  # a typed config such as TransformerConfig: its fields
            arg = dataclasses.asdict(arg)
        elif callable(arg):  # a function or lambda: not data
            return None
        nested[key] = arg
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": nested}


def build_backbone(spec: dict) -> BackboneFactory:
    """The factory that a class_path/init_args mapping describes, built by jsonargparse as LightningCLI builds
    it, so each composed module becomes what its parameter's type asks for (a factory for an encoder or a head,
    an instance for an EmbeddingEncoder's mixer). An InputError names what does not parse."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--backbone", type=BackboneFactory)
    try:
        config = parser.parse_object({"backbone": spec})
        return parser.instantiate(config).backbone
    except (ArgumentError, ValueError, TypeError, ImportError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"backbone {spec.get('class_path')!r} cannot be built: {first_line(err)}") from err
