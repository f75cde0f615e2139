"""Sequence classification: the SequenceClassifier ladder (pooled embeddings to a transformer, flags) and the
TextClassifier (any backbone module composed in the config), sharing their training logic."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from datamodules.contract import TextData, require_text_data
from layers.attention import AttentionImpl, MultiHeadAttention, SimpleSelfAttention
from layers.blocks import Activation, NormPlacement
from layers.classifier import SequenceClassifierNet, ShallowEncoder
from layers.errors import InputError
from layers.pooling import PoolKind
from layers.position import PositionKind
from layers.transformer import TransformerConfig, TransformerEncoder
from layers.word_vectors import load_word_vectors
from lightning_modules import optim
from lightning_modules.mlm_encoder import load_mlm_encoder
from lightning_modules.plots import attention_figure
from lightning_modules.text_encoder_state import TextEncoderInCheckpoint

EncoderKind = Literal["none", "simple_attention", "attention", "transformer"]
STAGES = ("train", "val", "test")
FIGURE_TOKENS = 40  # attention figures show at most this many tokens of each example


class ClassifierTraining(TextEncoderInCheckpoint, optim.WarmupDecayOptimization, L.LightningModule):
    """What every text classifier shares: cross-entropy on (B, C) logits, `{stage}/loss` and `{stage}/acc`
    metrics, softmax probabilities from predict_step, the injected optimiser with warm-up and decay, and
    the data module's text encoder in its checkpoints. Subclasses build the network and define forward."""

    def _init_metrics(self, num_classes: int) -> None:
        self.accuracy = nn.ModuleDict({f"{s}_acc": MulticlassAccuracy(num_classes) for s in STAGES})

    def _step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"])
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels)
        accuracy = self.accuracy[f"{stage}_acc"]
        accuracy(logits, labels)
        size = labels.shape[0]
        self.log(
            f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, batch_size=size, prog_bar=stage != "train"
        )
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, batch_size=size, prog_bar=True)
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Class probabilities (B, C); column 1 is the positive class for sentiment."""
        return self(batch["input_ids"], batch["attention_mask"]).softmax(dim=-1)


class SequenceClassifier(ClassifierTraining):
    """Token ids → class, trained with cross-entropy; logs `{stage}/loss` and `{stage}/acc`.

    encoder:
        none              embedding → pool → linear (the bag-of-words baseline)
        simple_attention  + parameter-free softmax(X Xᵀ) X before the pool (`scaled` divides by √D)
        attention         + multi-head self-attention with Q, K, V projections (`n_heads`)
        transformer       `n_layers` TransformerBlocks (`norm`, `activation`, feed-forward 4·D)
    positions: none | learned | sinusoidal, with any encoder. pool: mean | max | first.
    hidden_size: a tanh hidden layer of that width before the output layer.
    embeddings_path: initialise the token embedding from GloVe-format word vectors (d_model must match their
    width), `freeze_embeddings` to keep them fixed; words the file lacks are counted and reported.
    init_from_mlm: start the transformer encoder from a MaskedLM checkpoint's (same shape, same data).
    vocab_size, num_classes and pad_id come from the data module (linked by train.py). On each validation
    end a figure of the attention weights of `attention_examples` validation examples goes to TensorBoard.
    Checkpoints carry the data module's text encoder, so sentiment.py can classify raw text with them.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        pad_id: int = 0,
        encoder: EncoderKind = "none",
        d_model: int = 300,
        n_heads: int = 1,
        n_layers: int = 1,
        norm: NormPlacement = "pre",
        positions: PositionKind = "none",
        max_len: int = 512,
        pool: PoolKind = "mean",
        dropout: float = 0.0,
        activation: Activation = "relu",
        scaled: bool = False,
        hidden_size: int | None = None,
        embeddings_path: str | None = None,
        freeze_embeddings: bool = False,
        init_from_mlm: str | None = None,
        attn_impl: AttentionImpl = "manual",
        optimizer: OptimizerCallable = torch.optim.AdamW,
        warmup_steps: int = 0,
        lr_decay: optim.Decay = "constant",
        attention_examples: int = 4,
    ) -> None:
        super().__init__()
        sizes = {
            "vocab_size": vocab_size,
            "d_model": d_model,
            "n_heads": n_heads,
            "n_layers": n_layers,
            "max_len": max_len,
            "hidden_size": hidden_size or 1,
        }
        for name, value in sizes.items():
            if value is None or value <= 0:
                raise InputError(f"{name} must be a positive integer, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {dropout}")
        if init_from_mlm and encoder != "transformer":
            raise InputError("init_from_mlm needs encoder: transformer (the MaskedLM's encoder is one)")
        if num_classes is None or num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        self.save_hyperparameters(ignore=["optimizer"])
        self.optimizer = optimizer
        self.net = build_network(self.hparams)
        if freeze_embeddings:
            self.net.encoder.tok_emb.weight.requires_grad_(False)
        self._init_metrics(num_classes)
        self._attention_batch: dict[str, Tensor] | None = None

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.net(input_ids, attention_mask)  # (B, C) logits

    def setup(self, stage: str) -> None:
        # Only a fresh fit reads the vectors; a resumed run's checkpoint then restores the trained ones.
        if stage == "fit" and self.hparams.embeddings_path:
            data = require_text_data(self.trainer.datamodule, "embeddings_path")
            # Special tokens ([PAD], [CLS], …) have no vectors to find: they keep their own initialisation.
            special = set(data.special_ids)
            report = load_word_vectors(self.net.encoder.tok_emb, self.hparams.embeddings_path, data.i2w, skip=special)
            rank_zero_info(f"{self.hparams.embeddings_path}: {report}")
        if stage == "fit" and self.hparams.init_from_mlm:
            loaded = load_mlm_encoder(self.net.encoder, self.hparams.init_from_mlm)
            rank_zero_info(f"{self.hparams.init_from_mlm}: {loaded} encoder tensors loaded from the masked LM")

    @property
    def max_input_len(self) -> int | None:
        """How many tokens the network can read: its positions cover max_len; None when unbounded."""
        return self.hparams.max_len if self.hparams.positions != "none" else None

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch_idx == 0:  # kept for the attention figure at the end of the epoch
            self._attention_batch = {k: v[: self.hparams.attention_examples] for k, v in batch.items()}
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        batch, self._attention_batch = self._attention_batch, None
        if batch is None or self.hparams.encoder == "none" or self.trainer.sanity_checking:
            return
        loggers = [lg for lg in self.loggers if isinstance(lg, TensorBoardLogger)]
        if not loggers or not self.hparams.attention_examples:
            return
        with torch.no_grad():
            logits, weights = self.net(batch["input_ids"], batch["attention_mask"], return_weights=True)
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
        for logger in loggers:
            logger.experiment.add_figure("val/attention", figure, self.global_step)


BackboneFactory = Callable[[int, int, int], nn.Module]


class TextClassifier(ClassifierTraining):
    """Token ids → class, with the network composed in the config: `backbone` is a module class given as
    class_path/init_args, called as backbone(vocab_size, pad_id, num_classes) (the data module supplies
    those three), whose module maps (input_ids (B, T), attention_mask (B, T) bool) → logits (B, C).

        model:
          class_path: lightning_modules.classifier.TextClassifier
          init_args:
            backbone:
              class_path: layers.recurrent_classifier.RecurrentClassifier
              init_args: {hidden_size: 256, decoder: attention}

    The backbone is kept in the hyperparameters as its class_path and init_args (plain data), so
    load_from_checkpoint rebuilds the same network; logs and predictions are SequenceClassifier's.
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
    ) -> None:
        super().__init__()
        if vocab_size is None or vocab_size <= 0:
            raise InputError(f"vocab_size must be a positive integer, got {vocab_size}")
        if num_classes is None or num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {num_classes}")
        spec = backbone_spec(backbone)
        self.save_hyperparameters(ignore=["optimizer", "backbone"])
        self.hparams["backbone"] = spec  # plain data in the checkpoint, not the callable
        self.optimizer = optimizer
        self.network = build_backbone(spec, vocab_size, pad_id, num_classes)
        self._init_metrics(num_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        return self.network(input_ids, attention_mask)  # (B, C) logits

    @property
    def max_input_len(self) -> int | None:
        """How many tokens the network can read (a backbone with positions says so in `max_len`)."""
        return getattr(self.network, "max_len", None)


def backbone_spec(backbone: BackboneFactory | dict) -> dict:
    """{"class_path": …, "init_args": {…}} of a backbone given as that mapping (a config, a checkpoint's
    hyperparameters), a module class, or a partial of one with keyword arguments (what the CLI passes).
    Modules composed inside it (an encoder source, a head) become nested class_path/init_args too: the
    checkpoint keeps plain data only (Lightning drops a hyperparameter it cannot pickle, and a partial of
    the CLI's may not be), and `build_backbone` rebuilds them."""
    if isinstance(backbone, dict):
        if "class_path" not in backbone:
            raise InputError(f"backbone needs a class_path (and init_args), got {backbone}")
        return {"class_path": backbone["class_path"], "init_args": dict(backbone.get("init_args") or {})}
    spec = _module_spec(backbone)
    if spec is None:
        raise InputError(f"backbone must be an nn.Module class (class_path/init_args in the config), got {backbone!r}")
    return spec


def _module_spec(value) -> dict | None:
    """A module class, or a partial of one (jsonargparse's holds the class among its positional arguments,
    after its instantiator), as class_path/init_args, its own composed modules nested; None for anything else."""
    cls, init_args = value, {}
    if isinstance(value, functools.partial):
        classes = [a for a in (value.func, *value.args) if isinstance(a, type)]
        cls, init_args = (classes[-1] if classes else None), dict(value.keywords)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return None
    nested = {key: _module_spec(arg) or arg for key, arg in init_args.items()}
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": nested}


def _import_module_class(class_path: str) -> type[nn.Module]:
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise InputError(f"backbone class_path {class_path!r} cannot be imported: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise InputError(f"backbone class_path {class_path!r} is not an nn.Module class")
    return cls


def _rebuilt(arg):
    """A nested class_path/init_args back as the factory it was (the class with its keyword arguments)."""
    if isinstance(arg, dict) and "class_path" in arg:
        init_args = {key: _rebuilt(value) for key, value in (arg.get("init_args") or {}).items()}
        return functools.partial(_import_module_class(arg["class_path"]), **init_args)
    return arg


def build_backbone(spec: dict, vocab_size: int, pad_id: int, num_classes: int) -> nn.Module:
    """The module `spec` names, built as cls(vocab_size, pad_id, num_classes, **init_args), composed modules
    in init_args given as factories."""
    cls = _import_module_class(spec["class_path"])
    init_args = {key: _rebuilt(value) for key, value in spec["init_args"].items()}
    return cls(vocab_size, pad_id, num_classes, **init_args)


def build_network(hp) -> SequenceClassifierNet:
    """The classifier network that the hyperparameters describe."""
    if hp.encoder == "transformer":
        encoder = TransformerEncoder(TransformerConfig.from_mapping(hp))
    else:
        if hp.encoder == "simple_attention":
            mixer = SimpleSelfAttention(scaled=hp.scaled)
        elif hp.encoder == "attention":
            mixer = MultiHeadAttention(hp.d_model, hp.n_heads, hp.dropout, attn_impl=hp.attn_impl)
        elif hp.encoder == "none":
            mixer = None
        else:
            raise InputError(f"unknown encoder {hp.encoder!r}; choose none, simple_attention, attention or transformer")
        encoder = ShallowEncoder(hp.vocab_size, hp.d_model, mixer, hp.positions, hp.max_len, hp.dropout, hp.pad_id)
    return SequenceClassifierNet(encoder, hp.d_model, hp.num_classes, hp.pool, hp.dropout, hp.hidden_size)
