"""The model ↔ data contract (datamodules/contract.py): a data module without it fails loudly at setup."""

import functools

import lightning as L
import pytest
import torch

from datamodules.contract import TextData
from layers.transformer import TransformerConfig
from lightning_modules.causal_lm import CausalLM
from lightning_modules.classifier import TextClassifier
from lightning_modules.cli import _data_attribute
from networks.classifier import EncoderClassifier
from networks.embedding_encoder import EmbeddingEncoder
from networks.heads import PooledHead
from tests.fixtures import experiment_configs, write_glove


class BareData(L.LightningDataModule):
    """A data module that serves batches but does not declare the contract."""

    def train_dataloader(self):
        ids = torch.randint(0, 10, (8, 6))
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool), "labels": ids[:, 0] % 2}
        return [batch]


def trainer():
    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_steps=1)


def test_the_cli_link_refuses_a_data_module_without_the_contract():
    with pytest.raises(TypeError, match=r"linking data\.vocab_size .*TextData, got BareData"):
        _data_attribute("vocab_size")(BareData())


def test_word_vectors_need_the_contract(tmp_path):
    glove = write_glove(tmp_path / "g.txt", ["the", "film"])
    encoder = functools.partial(EmbeddingEncoder, d_model=50, word_vectors=str(glove))
    model = TextClassifier(functools.partial(EncoderClassifier, encoder=encoder, head=PooledHead), vocab_size=10)
    with pytest.raises(TypeError, match="word_vectors needs a data module that implements"):
        trainer().fit(model, datamodule=BareData())


def test_samples_need_a_language_model_data_module():
    model = CausalLM(
        10, transformer=TransformerConfig(d_model=16, n_heads=2, n_layers=1, max_len=8), sample_every_n_steps=5
    )
    with pytest.raises(TypeError, match=r"sample_every_n_steps needs a datamodules\.lm\.LanguageModelDataModule"):
        trainer().fit(model, datamodule=BareData())


def test_every_data_module_of_the_configs_declares_the_contract():
    import importlib

    import yaml

    for config in experiment_configs():
        class_path = yaml.safe_load(config.read_text())["data"]["class_path"]
        module, _, name = class_path.rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), name), TextData), config


def test_data_modules_are_shallow_and_declare_their_options():
    import inspect

    import datamodules

    # The package resolves its names on first use (PEP 562), so its public names, not vars(), list them.
    exported = [getattr(datamodules, name) for name in datamodules.__all__]
    modules = [c for c in exported if inspect.isclass(c) and issubclass(c, L.LightningDataModule)]
    assert len(modules) >= 10
    for cls in modules:
        below = [c for c in cls.__mro__ if issubclass(c, L.LightningDataModule) and c is not L.LightningDataModule]
        assert len(below) <= 2, cls  # the class itself and at most one base between it and Lightning's
        kinds = {p.kind for p in inspect.signature(cls.__init__).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, cls  # every option shows in --help
