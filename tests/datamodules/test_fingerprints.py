"""The prepared corpus's fingerprints: chained explicitly from small digests (never by dill-pickling a
vocabulary or an index list), different for every setting that changes the ids, equal otherwise."""

import pytest
from datasets.fingerprint import Hasher

from datamodules.encoders import WordTokenizer
from datamodules.imdb import IMDbDataModule


def prepared(corpora, cache, **kwargs):
    settings = {"data_dir": str(corpora["imdb_tar"]), "cache_dir": str(cache), "val_size": 4, "min_freq": 1}
    dm = IMDbDataModule(**{**settings, **kwargs})
    dm.setup("fit")
    return dm


def fingerprints(dm):
    return {split: dataset._fingerprint for split, dataset in dm.datasets.items()}


def ids(dm, split):
    return [row.tolist() for row in dm.datasets[split]["input_ids"]]


def strings_only(hash_or_update):
    """Hasher.hash/update that lets strings and short lists of them through (the builder hashes its folder
    name, `with_format` its column names: cheap) and fails on anything else: a transform, its state, an index list.
    `datasets` catches a failed hash and uses a random fingerprint instead, so a forbidden hash shows as a cache
    miss on the second run (the tokeniser runs again): the pipeline before explicit fingerprints fails so."""

    def checked(self, value):
        strings = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else [None]
        if not all(isinstance(s, str) for s in strings) or sum(map(len, strings)) > 200:
            raise AssertionError(f"datasets dill-hashed a {type(value).__name__}")
        return hash_or_update(self, value)

    return checked


def test_preparing_and_loading_hash_nothing_with_dill(corpora, tmp_path, monkeypatch):
    monkeypatch.setattr(Hasher, "hash", classmethod(strings_only(Hasher.hash.__func__)))
    monkeypatch.setattr(Hasher, "update", strings_only(Hasher.update))
    first = prepared(corpora, tmp_path)  # the first run: read, tokenise, fit the vocabulary, encode

    def no_tokenising(self, texts, batch_size=1000):
        raise AssertionError("the tokeniser ran again")

    monkeypatch.setattr(WordTokenizer, "tokenize", no_tokenising)
    again = prepared(corpora, tmp_path)  # the warm start: every step a cache hit
    assert fingerprints(again) == fingerprints(first)
    assert all(ids(again, split) == ids(first, split) for split in ("train", "val", "test"))


@pytest.mark.parametrize(
    "setting",
    [{"max_vocab": 30}, {"tokenizer": "whitespace"}, {"lower": False}, {"split_seed": 1}, {"val_size": 5}],
    ids=lambda s: next(iter(s)),
)
def test_every_setting_that_changes_the_ids_changes_the_fingerprint(corpora, tmp_path, setting):
    default = prepared(corpora, tmp_path)
    changed = prepared(corpora, tmp_path, **setting)
    assert ids(changed, "train") != ids(default, "train")  # the setting does change the result…
    for split, key in fingerprints(changed).items():  # …so no split may reuse the default's cache
        assert key != fingerprints(default)[split], split


def test_max_len_cuts_batches_and_so_shares_the_cache(corpora, tmp_path, monkeypatch):
    """Texts are cut to max_len when batched, not when cached: one prepared corpus serves every max_len."""
    default = prepared(corpora, tmp_path)
    monkeypatch.setattr(WordTokenizer, "tokenize", lambda *a, **k: pytest.fail("the tokeniser ran again"))
    short = prepared(corpora, tmp_path, max_len=8)
    assert fingerprints(short) == fingerprints(default)
    assert next(iter(short.train_dataloader()))["input_ids"].shape[1] == 8
    assert next(iter(default.train_dataloader()))["input_ids"].shape[1] > 8
