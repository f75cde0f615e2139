"""IMDb with a pretrained (BERT-style) tokenizer: its ids, its [CLS] … [SEP], truncation keeping [SEP]."""

import time

import pytest
from transformers import PreTrainedTokenizerFast

from datamodules.imdb import IMDbDataModule
from datamodules.readers import read_acl_imdb
from datamodules.yelp import train_wordpiece
from lab_errors import InputError


@pytest.fixture
def tokenizer_dir(corpora, tmp_path):
    """A small WordPiece saved as a Hugging Face tokenizer folder, as BERT's would be."""
    texts, _ = read_acl_imdb(corpora["imdb_dir"])["train"]
    fast = PreTrainedTokenizerFast(
        tokenizer_object=train_wordpiece(texts, vocab_size=150),
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(tmp_path / "tokenizer")
    return tmp_path / "tokenizer", fast


def test_reviews_become_the_tokenizers_ids_cut_to_max_len_keeping_sep(corpora, tmp_path, tokenizer_dir):
    folder, fast = tokenizer_dir
    dm = IMDbDataModule(
        data_dir=str(corpora["imdb_tar"]),
        cache_dir=str(tmp_path / "cache"),
        val_size=4,
        max_len=8,
        pretrained_tokenizer=str(folder),
    )
    dm.setup("fit")
    assert dm.vocab_size == len(fast) and dm.pad_id == fast.pad_token_id == 0
    test_texts, _ = read_acl_imdb(corpora["imdb_dir"])["test"]
    assert dm.datasets["test"][0]["input_ids"].tolist() == fast(test_texts[0])["input_ids"]  # the same ids, uncut
    batch = next(iter(dm.train_dataloader()))
    cls, sep = fast.cls_token_id, fast.sep_token_id
    for ids, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True):
        real = ids[mask].tolist()
        assert len(real) <= 8 and real[0] == cls and real[-1] == sep


def test_keep_tail_cuts_reviews_head_plus_tail_and_is_checked(corpora, tmp_path, tokenizer_dir):
    folder, fast = tokenizer_dir
    common = {"data_dir": str(corpora["imdb_tar"]), "cache_dir": str(tmp_path / "cache"), "val_size": 4}
    dm = IMDbDataModule(**common, max_len=8, keep_tail=3, bucket=False, pretrained_tokenizer=str(folder))
    dm.setup("test")
    test_texts, _ = read_acl_imdb(corpora["imdb_dir"])["test"]
    batch = next(iter(dm.test_dataloader()))
    for text, ids, mask in zip(test_texts, batch["input_ids"], batch["attention_mask"], strict=False):
        full = fast(text)["input_ids"]
        assert ids[mask].tolist() == (full if len(full) <= 8 else full[:5] + full[-3:])  # [SEP] is in the tail
    assert any(len(fast(t)["input_ids"]) > 8 for t in test_texts[: len(batch["input_ids"])])  # some were cut
    for keep_tail, max_len in ((9, 8), (-1, 8), (2, None)):
        with pytest.raises(InputError, match=rf"keep_tail must be between 0 and max_len \({max_len}\), got"):
            IMDbDataModule(**common, max_len=max_len, keep_tail=keep_tail, pretrained_tokenizer=str(folder))


def test_a_folder_that_is_not_a_tokenizer_and_an_offline_name_fail_fast_in_one_line(corpora, tmp_path):
    (tmp_path / "empty").mkdir()
    folder = str(tmp_path / "empty")
    dm = IMDbDataModule(data_dir=str(corpora["imdb_tar"]), cache_dir=str(tmp_path), pretrained_tokenizer=folder)
    with pytest.raises(InputError, match=r"empty is not a saved Hugging Face tokenizer \(no tokenizer_config\.json\)"):
        dm.build_encoder()
    start = time.monotonic()  # tests run with HF_HUB_OFFLINE=1 (tests/conftest.py)
    dm = IMDbDataModule(
        data_dir=str(corpora["imdb_tar"]), cache_dir=str(tmp_path), pretrained_tokenizer="no-org/no-bert"
    )
    with pytest.raises(InputError, match="not in the local Hugging Face cache and the hub cannot be reached"):
        dm.build_encoder()
    assert time.monotonic() - start < 10
