"""IMDb, reviews and Yelp data modules on fixtures of the real layouts: reading, caching, vocabularies, errors."""

import os
import shutil

import pytest
import torch

from datamodules import cache
from datamodules.encoders import SubwordEncoder, TextEncoder
from datamodules.imdb import IMDbDataModule
from datamodules.readers import read_acl_imdb, read_labelled_file, read_reviews_tsv
from datamodules.reviews import ReviewsDataModule
from datamodules.yelp import YelpPolarityDataModule, train_wordpiece
from tests.fixtures import TEST_ONLY_WORD, VAL_TRAIN_WORD, review, write_acl_imdb


def imdb(corpora, tmp_path, **kwargs):
    settings = {
        "data_dir": str(corpora["imdb_tar"]),
        "cache_dir": str(tmp_path / "cache"),
        "val_size": 4,
        "min_freq": 1,
        **kwargs,
    }
    return IMDbDataModule(**settings)


def test_folder_and_archive_give_the_same_reviews(corpora):
    from_dir, from_tar = read_acl_imdb(corpora["imdb_dir"]), read_acl_imdb(corpora["imdb_tar"])
    assert from_dir == from_tar
    texts, labels = from_dir["train"]
    assert len(texts) == 24 and sum(labels) == 12  # 12 positive, 12 negative
    assert read_acl_imdb(corpora["imdb_dir"].parent) == from_dir  # the parent folder works too


def test_splits_vocabulary_and_cleaning(corpora, tmp_path):
    dm = imdb(corpora, tmp_path)
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 20, "val": 4, "test": 24}
    assert dm.i2w[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and dm.pad_id == 0
    assert TEST_ONLY_WORD not in dm.vocab  # the vocabulary comes from the training split only
    assert "<" not in dm.vocab and "br" not in dm.vocab  # <br /> removed
    assert all(w == w.lower() for w in dm.i2w[5:])  # lower-cased
    test_ids = torch.cat(dm.datasets["test"].sequences)
    assert dm.vocab.unk_id in test_ids.tolist()


def test_the_training_only_word_is_known_and_the_val_split_is_fixed_by_seed(corpora, tmp_path):
    a, b, c = imdb(corpora, tmp_path), imdb(corpora, tmp_path / "b"), imdb(corpora, tmp_path / "c", split_seed=1)
    for dm in (a, b, c):
        dm.setup("fit")
    assert VAL_TRAIN_WORD in a.vocab or any(VAL_TRAIN_WORD in a.decode(s) for s in a.datasets["val"].sequences)
    assert [s.tolist() for s in a.datasets["val"].sequences] == [s.tolist() for s in b.datasets["val"].sequences]
    assert [s.tolist() for s in a.datasets["val"].sequences] != [s.tolist() for s in c.datasets["val"].sequences]


def test_the_second_setup_is_a_cache_hit(corpora, tmp_path, monkeypatch):
    imdb(corpora, tmp_path).setup("fit")
    folders = list((tmp_path / "cache").glob("imdb-*"))
    assert len(folders) == 1 and (folders[0] / "meta.json").exists()

    def no_reading(self):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(IMDbDataModule, "read", no_reading)
    again = imdb(corpora, tmp_path)
    again.setup("fit")
    assert len(again.datasets["train"]) == 20
    with pytest.raises(AssertionError, match="read again"):  # any setting that changes the result: a new key
        imdb(corpora, tmp_path, lower=False).setup("fit")


def test_an_interrupted_preparation_leaves_nothing_behind(corpora, tmp_path, monkeypatch):
    def interrupted(self, raw):
        raise KeyboardInterrupt

    monkeypatch.setattr(IMDbDataModule, "build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        imdb(corpora, tmp_path).setup("fit")
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []
    # and a failure while writing the folder itself leaves no partial folder either
    original_save = torch.save

    def failing_save(obj, path, *args, **kwargs):
        if str(path).endswith("test.pt"):
            raise OSError("disk full")
        return original_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        imdb(corpora, tmp_path).setup("fit")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_awkward_reviews_are_handled_silently(corpora, tmp_path):
    dm = imdb(corpora, tmp_path, max_len=16, batch_size=64)
    dm.setup("fit")
    texts = read_acl_imdb(corpora["imdb_dir"])["train"][0]
    assert any(t.startswith("Caf\ufffd ") for t in texts)  # a non-UTF-8 byte became �
    assert "" in texts  # the empty review is kept
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape[1] <= 16  # the very long review is cut to max_len
    lengths = [len(s) for split in ("train", "val") for s in dm.datasets[split].sequences]
    assert min(lengths) == 0 and max(lengths) > 300


def test_missing_or_empty_data_gives_a_clear_error(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"IMDb not found: .*nowhere does not exist.*--data\.init_args\.data_dir"
    ):
        IMDbDataModule(data_dir=str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "cache")).prepare()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"no IMDb reviews under {empty}"):
        IMDbDataModule(data_dir=str(empty), cache_dir=str(tmp_path / "cache")).prepare()


def test_reviews_files_parse_and_a_malformed_line_is_named(corpora, tmp_path):
    texts, labels = read_reviews_tsv(corpora["reviews_train"])
    assert len(texts) == 40 and labels[:2] == [1, 0] and "\x85" in texts[3]  # \x85 does not split a review
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"0\tpos\tfine\n1\tneutral\tnot a label\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected id<TAB>pos\|neg<TAB>text"):
        read_reviews_tsv(bad)
    bad.write_bytes(b"0\tpos\tfine\njust some words\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2"):
        read_reviews_tsv(bad)
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"0\tpos\tna\xefve but \xff fine\n1\tneg\t\n")  # non-UTF-8 bytes and an empty review
    assert read_reviews_tsv(odd) == (["na\ufffdve but \ufffd fine", ""], [1, 0])
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"\n\n")
    with pytest.raises(ValueError, match=r"empty\.txt holds no reviews"):
        read_reviews_tsv(empty)


def test_reviews_data_module(corpora, tmp_path):
    dm = ReviewsDataModule(
        train_path=str(corpora["reviews_train"]),
        val_path=str(corpora["reviews_dev"]),
        cache_dir=str(tmp_path / "cache"),
        min_freq=1,
    )
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 40, "val": 40, "test": 40}
    with pytest.raises(FileNotFoundError, match="train reviews not found"):
        ReviewsDataModule(
            train_path=str(tmp_path / "missing.txt"),
            val_path=str(corpora["reviews_dev"]),
            cache_dir=str(tmp_path / "cache"),
        ).prepare()


def test_labelled_file_formats(corpora, tmp_path):
    texts, labels = read_labelled_file(corpora["yelp_train"])
    assert len(texts) == 60 and set(labels) == {0, 1}
    assert len(read_labelled_file(corpora["yelp_test"])[0]) == 20
    csv = tmp_path / "train.csv"
    csv.write_text('"2","Loved it, really"\n"1","Never again"\n')  # the original distribution: 2 = positive
    assert read_labelled_file(csv) == (["Loved it, really", "Never again"], [1, 0])
    bad = tmp_path / "bad.txt"
    bad.write_text("1 fine\n5 what\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: label must be one of \['0', '1'\]"):
        read_labelled_file(bad)
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"text": "ok", "label": 1}\n\n{"text": "cut off", "lab\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: not valid JSON"):  # blank lines counted too
        read_labelled_file(jsonl)
    jsonl.write_text('{"text": "ok", "label": 1}\n{"text": "no label"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: needs 'text' and 'label'"):
        read_labelled_file(jsonl)
    not_tar = tmp_path / "aclImdb_v1.tar.gz"
    not_tar.write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="is not a tar archive"):
        read_acl_imdb(not_tar)


def test_wordpiece_fallback_trains_round_trips_and_is_saved(corpora, tmp_path):
    texts = [review(__import__("random").Random(i), i % 2 == 0) for i in range(50)]
    tokenizer = train_wordpiece(texts, vocab_size=120)
    encoder = SubwordEncoder(tokenizer)
    assert encoder.i2w[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and encoder.pad_id == 0
    ids = encoder.encode("The plot was brilliant")
    assert encoder.i2w[ids[0]] == "[CLS]" and encoder.i2w[ids[-1]] == "[SEP]"
    assert tokenizer.decode(ids) == "the plot was brilliant"  # lower-cased by BERT's normaliser
    clone = TextEncoder.from_state(encoder.state_dict())
    assert clone.encode("The plot was brilliant") == ids

    dm = YelpPolarityDataModule(
        train_path=str(corpora["yelp_train"]),
        test_path=str(corpora["yelp_test"]),
        cache_dir=str(tmp_path / "cache"),
        val_size=8,
        wordpiece_vocab_size=150,
    )
    dm.setup("fit")  # offline: bert-base-uncased cannot be had, so a WordPiece is trained
    assert {k: len(v) for k, v in dm.datasets.items()} == {"train": 52, "val": 8, "test": 20}
    assert dm.vocab_size <= 150 and dm.pad_id == 0 and dm.decode(dm.datasets["train"][0]["input_ids"])[0] == "[CLS]"

    # BERT's input format: a fixed length, and a text cut to it keeps its closing [SEP].
    collate = dm.train_dataloader().collate_fn
    long_text = encoder.encode("brilliant " * 400)
    batch = collate([{"input_ids": long_text, "labels": 1}, {"input_ids": ids, "labels": 0}])
    assert batch["input_ids"].shape == (2, 256) and batch["attention_mask"].sum(1).tolist() == [256, len(ids)]
    assert dm.decode(batch["input_ids"][0])[-1] == "[SEP]" and dm.decode(batch["input_ids"][0])[0] == "[CLS]"


def test_yelp_needs_both_files_or_neither(tmp_path):
    with pytest.raises(ValueError, match="both train_path and test_path"):
        YelpPolarityDataModule(train_path="a.json")


def test_the_cache_writes_whole_folders_only(tmp_path):
    folder = tmp_path / "c" / "x"
    cache.save(folder, {"a": 1}, {"train": cache.pack([[1, 2], [3]])})
    meta, splits = cache.load(folder)
    assert meta == {"a": 1} and [t.tolist() for t in cache.unpack(splits["train"])] == [[1, 2], [3]]
    assert sorted(os.listdir(tmp_path / "c")) == ["x"]
    shutil.rmtree(folder)
    assert cache.cache_key({"a": 1}) != cache.cache_key({"a": 2})


def test_imdb_fixture_helper_layout(tmp_path):
    root = write_acl_imdb(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["imdb.vocab", "test", "train"]
