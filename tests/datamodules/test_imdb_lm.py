"""IMDbTextDataModule: the reviews as running text, byte-level BPE, the cache, and a checkpoint's sampling."""

import pytest
import torch

from datamodules import imdb_lm
from datamodules.imdb_lm import IMDbTextDataModule, train_byte_bpe
from lab_errors import MissingInputError
from tests.fixtures import TEST_ONLY_WORD, VAL_TRAIN_WORD, write_acl_imdb


def data(tmp_path, **kwargs):
    settings = {"bpe_vocab_size": 400, "eval_reviews": 5, "seq_len": 8, "batch_size": 4, "batches_per_epoch": 3}
    root = tmp_path / "data"
    if not root.exists():
        write_acl_imdb(root, as_tar=True)
    return IMDbTextDataModule(
        str(root / "aclImdb_v1.tar.gz"), cache_dir=str(tmp_path / "cache"), **{**settings, **kwargs}
    )


def test_any_text_survives_byte_level_bpe_unchanged():
    encoder = train_byte_bpe(["the film was great and the plot was dull"] * 20, vocab_size=300)
    for text in ("the film was great", "Ünïcödé ✓ and tabs\tand\nnewlines", "zyzzyva 123"):
        ids = encoder.encode(text)
        assert encoder.tokenizer.token_to_id("[UNK]") not in ids
        assert encoder.text(ids) == text
    assert len(encoder.encode("the film was great")) < len("the film was great")  # merges were learnt


def test_splits_are_reviews_as_lines_and_eval_reviews_come_from_the_test_split(tmp_path):
    dm = data(tmp_path)
    dm.setup()
    texts = dm.texts()
    assert len(texts["train"]) == 24 and len(texts["val"]) == len(texts["test"]) == 5
    assert not set(texts["val"]) & set(texts["test"])
    assert any(VAL_TRAIN_WORD in t for t in texts["train"]) and not any(TEST_ONLY_WORD in t for t in texts["train"])
    assert all("<br />" not in t for split in texts.values() for t in split)
    # The tokens of each split are its reviews, one per line, in order.
    assert dm.text_encoder.text(dm.splits["val"].tolist()) == "".join(t + "\n" for t in texts["val"])
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape == (4, 8) and batch["input_ids"].max() < dm.vocab_size


def test_tokenizer_and_tokens_are_cached_and_another_vocab_size_is_another_cache(tmp_path, monkeypatch):
    first = data(tmp_path)
    first.setup()
    monkeypatch.setattr(imdb_lm, "read_acl_imdb", lambda path: pytest.fail("the cache was not used"))
    again = data(tmp_path)
    again.setup()
    assert torch.equal(again.splits["train"], first.splits["train"])
    assert again.text_encoder.i2w == first.text_encoder.i2w
    with pytest.raises(pytest.fail.Exception, match="cache was not used"):
        data(tmp_path, bpe_vocab_size=300).setup()


def test_bad_settings_and_a_missing_archive_are_one_line_errors(tmp_path):
    with pytest.raises(MissingInputError, match="no such IMDb archive"):
        IMDbTextDataModule(str(tmp_path / "nowhere.tar.gz"), cache_dir=str(tmp_path)).setup()
    with pytest.raises(ValueError, match="bpe_vocab_size"):
        IMDbTextDataModule(bpe_vocab_size=100)
    with pytest.raises(ValueError, match="eval_reviews"):
        IMDbTextDataModule(eval_reviews=0)
