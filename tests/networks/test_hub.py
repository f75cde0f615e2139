"""networks/hub.py's hub-name path: a name found in the local cache loads from it without asking the hub (even a
dead one), a cache holding only part of a model says so in one line, and a file is not taken for a folder.

The cache is a temp folder in Hugging Face's own layout (models--org--name/snapshots/<commit>/, refs/main),
filled with save_pretrained; nothing here reaches the network.
"""

import time

import pytest
import torch
from huggingface_hub import constants
from transformers import BertConfig, BertModel, GPT2LMHeadModel, PreTrainedTokenizerFast
from transformers.utils import logging

from datamodules.yelp import train_wordpiece
from lab_errors import InputError
from networks.hub import load_pretrained, resolve_pretrained

NAME = "lab-tests/tiny-bert"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, and the snapshot folder NAME's files go into."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / ("models--" + NAME.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT


def tiny_bert() -> BertModel:
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    return BertModel(config, add_pooling_layer=False)


@pytest.mark.parametrize("offline", [True, False], ids=["HF_HUB_OFFLINE", "dead-hub"])
def test_a_cached_hub_name_loads_from_the_cache_without_asking_the_hub(cache, offline, monkeypatch):
    saved = tiny_bert()
    saved.save_pretrained(cache)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # were it asked, the hub would not answer
    source = resolve_pretrained(NAME, ("bert",))
    assert source.options == {"local_files_only": True} and source.from_cache
    loaded = load_pretrained(BertModel, NAME, ("bert",), add_pooling_layer=False)
    for name, tensor in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_a_cached_tokenizer_is_found_by_its_own_file(cache):
    fast = PreTrainedTokenizerFast(tokenizer_object=train_wordpiece(["a quokka ate", "great cats"], 40))
    fast.save_pretrained(cache)  # no config.json: a tokenizer alone
    loaded = load_pretrained(PreTrainedTokenizerFast, NAME, required_file="tokenizer_config.json")
    assert loaded("a quokka")["input_ids"] == fast("a quokka")["input_ids"]
    with pytest.raises(InputError, match="not in the local Hugging Face cache and the hub cannot be reached"):
        resolve_pretrained(NAME)  # as a model it needs config.json, which the cache lacks


def test_a_partly_cached_model_names_what_is_missing_in_one_line(cache, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    tiny_bert().config.save_pretrained(cache)  # the config, not the weights
    logging.disable_progress_bar()
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        load_pretrained(BertModel, NAME, ("bert",))
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"'{NAME}' is not a folder here, only partly in the local Hugging Face cache and the hub cannot be "
        "reached: HF_HUB_OFFLINE=1 is set; point at a local folder instead"
    )


def test_a_cached_model_of_another_type_is_refused_before_its_weights_load(cache):
    tiny_bert().config.save_pretrained(cache)  # weights absent: loading them would fail otherwise
    with pytest.raises(InputError, match=f"^{NAME} holds a 'bert' model; a 'gpt2' model is needed here$"):
        load_pretrained(GPT2LMHeadModel, NAME, ("gpt2",))


def test_a_file_is_not_taken_for_a_model_folder(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{}")
    with pytest.raises(InputError, match=r"config\.json is a file; a pretrained model is a folder written by"):
        resolve_pretrained(str(path))
