"""Fixtures for configs whose backbone starts from a pretrained encoder (networks/classifier.py):
a tiny MaskedLM checkpoint over the fixture corpus's own vocabulary, and a tiny random BERT with its
tokenizer in save_pretrained folders, so those configs run offline on the fixture corpora."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

ENCODER_KEY = "--model.init_args.backbone.init_args.encoder.init_args."
BERT_SOURCES = ("BertEncoder", "HuggingFaceBertEncoder")


def encoder_overrides(settings: dict[str, Any], corpora: dict, data_args: dict[str, Any]) -> list[str]:
    """Arguments pointing a config's pretrained encoder (and, for BERT, its tokenizer) at tiny fixtures."""
    backbone = settings["model"]["init_args"].get("backbone") or {}
    encoder = (backbone.get("init_args") or {}).get("encoder") or {}
    source = str(encoder.get("class_path", "")).rsplit(".", 1)[-1]
    key, cached = ENCODER_KEY, []
    if source == "CachedEncoder":  # the source it caches is one level down; its states go to the fixtures' cache
        cached = [f"{ENCODER_KEY}cache_dir", str(Path(corpora["cache"]) / "features" / hashlib.sha1(
            repr(settings).encode()).hexdigest()[:12])]  # fmt: skip
        if encoder["init_args"].get("uncached_layers"):  # the tiny BERT has 2 blocks: keep one of them cached
            cached += [f"{ENCODER_KEY}uncached_layers", "1"]
        encoder = encoder["init_args"]["encoder"]
        source, key = encoder["class_path"].rsplit(".", 1)[-1], f"{ENCODER_KEY}encoder.init_args."
    if source == "MaskedLMEncoder":
        return [*cached, f"{key}checkpoint", str(masked_lm_checkpoint(settings["data"], data_args, corpora))]
    if source in BERT_SOURCES:
        folder = str(tiny_bert(corpora))
        yelp = settings["data"]["class_path"].endswith("YelpPolarityDataModule")
        return [
            *cached,
            f"{key}name_or_dir",
            folder,
            f"--data.init_args.{'tokenizer' if yelp else 'pretrained_tokenizer'}",
            folder,
        ]
    return []


def masked_lm_checkpoint(data: dict[str, Any], data_args: dict[str, Any], corpora: dict) -> Path:
    """A one-step MaskedLM over the vocabulary of the config's data module on the fixture corpus."""
    from layers.transformer import TransformerConfig
    from lightning_modules.masked_lm import MaskedLM
    from tests.lightning_modules.harness import labelled_batches

    module, name = data["class_path"].rsplit(".", 1)
    settings = {**data.get("init_args", {}), **data_args}
    # One checkpoint per data settings: another vocabulary would be refused (and rightly so).
    key = hashlib.sha1(repr(sorted((k, str(v)) for k, v in settings.items())).encode()).hexdigest()[:12]
    path = Path(corpora["root"]) / f"mlm-{name}-{key}.ckpt"
    if path.is_file():
        return path
    datamodule = getattr(importlib.import_module(module), name)(**settings)
    mlm = MaskedLM(
        vocab_size=datamodule.vocab_size, transformer=TransformerConfig(d_model=32, n_heads=4, n_layers=1, max_len=512)
    )
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)  # fmt: skip
    trainer.fit(mlm, DataLoader(labelled_batches(datamodule.vocab_size, 1), batch_size=None))
    trainer.save_checkpoint(path)
    return path


def tiny_bert(corpora: dict) -> Path:
    """A random 2-layer BERT and a WordPiece tokenizer of the same vocabulary, as save_pretrained writes them."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from datamodules.readers import read_labelled_file
    from datamodules.yelp import train_wordpiece

    folder = Path(corpora["root"]) / "tiny_bert"
    if (folder / "config.json").is_file():
        return folder
    texts, _ = read_labelled_file(Path(corpora["yelp_train"]))
    specials = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_wordpiece(texts, 150), mask_token="[MASK]", **specials)
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=512)  # fmt: skip
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    return folder
