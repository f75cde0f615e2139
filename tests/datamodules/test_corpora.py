"""IMDb, reviews and Yelp data modules on fixtures of the real layouts: reading, caching, vocabularies, errors."""

import codecs
import json
import logging

import pytest
import torch

from datamodules.encoders import SubwordEncoder, TextEncoder, WordTokenizer
from datamodules.imdb import IMDbDataModule
from datamodules.readers import read_acl_imdb, read_labelled_file, read_reviews_tsv, read_texts
from datamodules.reviews import ReviewsDataModule
from datamodules.yelp import YelpPolarityDataModule, train_wordpiece
from lab_errors import InputError, MissingInputError
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
    test_ids = torch.cat(list(dm.datasets["test"]["input_ids"]))
    assert dm.vocab.unk_id in test_ids.tolist()


def test_the_training_only_word_is_known_and_the_val_split_is_fixed_by_seed(corpora, tmp_path):
    a, b, c = imdb(corpora, tmp_path), imdb(corpora, tmp_path / "b"), imdb(corpora, tmp_path / "c", split_seed=1)
    for dm in (a, b, c):
        dm.setup("fit")
    val = {dm: [s.tolist() for s in list(dm.datasets["val"]["input_ids"])] for dm in (a, b, c)}
    assert VAL_TRAIN_WORD in a.vocab or any(VAL_TRAIN_WORD in a.decode(s) for s in val[a])
    assert val[a] == val[b] and val[a] != val[c]


def test_the_second_setup_is_a_cache_hit(corpora, tmp_path, monkeypatch):
    first = imdb(corpora, tmp_path)
    first.setup("fit")
    assert len(list((tmp_path / "cache").glob("imdb-encoder-*.json"))) == 1

    def no_reading(self, split):
        raise AssertionError("the corpus was read again")

    def no_tokenising(self, texts, batch_size=1000):
        raise AssertionError("the tokeniser ran again")

    monkeypatch.setattr(IMDbDataModule, "read", no_reading)
    monkeypatch.setattr(WordTokenizer, "tokenize", no_tokenising)
    again = imdb(corpora, tmp_path)
    again.setup("fit")
    assert again.text_encoder.i2w == first.text_encoder.i2w
    assert [s.tolist() for s in again.datasets["train"]["input_ids"]] == [
        s.tolist() for s in first.datasets["train"]["input_ids"]
    ]
    with pytest.raises(AssertionError, match="tokeniser ran again"):  # any setting that changes the result
        imdb(corpora, tmp_path, lower=False).setup("fit")


def test_reading_the_vocabulary_tokenises_the_training_split_only(corpora, tmp_path, monkeypatch):
    seen = []
    original = WordTokenizer.tokenize

    def counting(self, texts, batch_size=1000):
        texts = list(texts)
        seen.append(len(texts))
        return original(self, texts, batch_size)

    monkeypatch.setattr(WordTokenizer, "tokenize", counting)
    dm = imdb(corpora, tmp_path)
    assert dm.vocab_size > 5 and sum(seen) == 20  # the 20 training reviews (24 less 4 for validation)


def test_an_interrupted_preparation_leaves_nothing_behind(corpora, tmp_path, monkeypatch):
    def interrupted(self, texts, batch_size=1000):
        raise KeyboardInterrupt

    monkeypatch.setattr(WordTokenizer, "tokenize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        imdb(corpora, tmp_path).setup("fit")
    monkeypatch.undo()
    written = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert not [p for p in written if "tmp" in p.name.lower() and p.suffix != ".lock"]  # no temporary file
    assert not [p for p in written if p.name.startswith("cache-") or "encoder" in p.name]  # no tokenised split
    # and a failure while the encoder is written leaves no partial file either
    original_dump = json.dump

    def failing_dump(obj, f, *args, **kwargs):
        f.write("{")
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", failing_dump)
    with pytest.raises(OSError, match="disk full"):
        imdb(corpora, tmp_path).setup("fit")
    monkeypatch.setattr(json, "dump", original_dump)
    assert not [p for p in (tmp_path / "cache").rglob("*encoder*")]
    clean = imdb(corpora, tmp_path / "clean")
    clean.setup("fit")
    resumed = imdb(corpora, tmp_path)
    resumed.setup("fit")  # the interrupted runs' leftovers give exactly a clean run's result
    assert resumed.text_encoder.i2w == clean.text_encoder.i2w
    assert [s.tolist() for s in resumed.datasets["test"]["input_ids"]] == [
        s.tolist() for s in clean.datasets["test"]["input_ids"]
    ]


def test_awkward_reviews_are_handled_silently(corpora, tmp_path):
    dm = imdb(corpora, tmp_path, max_len=16, batch_size=64)
    dm.setup("fit")
    texts = read_acl_imdb(corpora["imdb_dir"])["train"][0]
    assert any(t.startswith("Caf\ufffd ") for t in texts)  # a non-UTF-8 byte became �
    assert "" in texts  # the empty review is kept
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape[1] <= 16  # the very long review is cut to max_len
    lengths = [len(s) for split in ("train", "val") for s in list(dm.datasets[split]["input_ids"])]
    assert min(lengths) == 0 and max(lengths) > 300


def test_missing_or_empty_data_gives_a_clear_error(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"IMDb not found: .*nowhere does not exist.*--data\.init_args\.data_dir"
    ):
        IMDbDataModule(data_dir=str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "cache")).setup()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=f"no IMDb reviews under {empty}"):
        IMDbDataModule(data_dir=str(empty), cache_dir=str(tmp_path / "cache")).setup()


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
        ).setup()


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


def test_imdb_fixture_helper_layout(tmp_path):
    root = write_acl_imdb(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["imdb.vocab", "test", "train"]


def test_an_empty_class_folder_is_an_error(corpora, tmp_path):
    root = write_acl_imdb(tmp_path / "one_class")
    for review_file in (root / "train" / "pos").iterdir():
        review_file.unlink()
    dm = IMDbDataModule(data_dir=str(root), cache_dir=str(tmp_path / "cache"), val_size=4, min_freq=1)
    with pytest.raises(MissingInputError, match=r"one_class/aclImdb: train/pos/ is missing or empty"):
        dm.setup("fit")


def test_a_split_missing_a_class_is_an_error_and_a_rare_class_a_warning(corpora, tmp_path):
    lines = corpora["reviews_dev"].read_text().splitlines()
    negative_only = tmp_path / "neg.txt"
    negative_only.write_text("\n".join(line for line in lines if "\tneg\t" in line) + "\n")
    dm = ReviewsDataModule(str(corpora["reviews_train"]), str(negative_only), cache_dir=str(tmp_path / "c"))
    with pytest.raises(InputError, match=r"reviews val: no example of class \[1\] among 20"):
        dm.setup("fit")
    rare = tmp_path / "rare.txt"
    rows = [line for line in lines if "\tneg\t" in line] + [next(line for line in lines if "\tpos\t" in line)]
    rare.write_text("\n".join(rows) + "\n")
    dm = ReviewsDataModule(str(corpora["reviews_train"]), str(rare), cache_dir=str(tmp_path / "c"))
    with pytest.warns(UserWarning, match=r"reviews val: class \[1\] is under 10% of the 21 examples"):
        dm.setup("fit")


def test_a_json_file_cut_off_midway_names_the_file(corpora, tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_text(corpora["yelp_train"].read_text()[:500])
    dm = YelpPolarityDataModule(train_path=str(cut), test_path=str(corpora["yelp_test"]), cache_dir=str(tmp_path))
    with pytest.raises(InputError, match=r"cut\.json:1: not valid JSON"):
        dm.setup("fit")


def test_texts_to_classify_keep_one_entry_per_line(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("Great\n\n  \nAwful\n")
    assert read_texts(path) == ["Great", "", "  ", "Awful"]  # text i is line i + 1, blank lines included
    path.write_text("no final newline")
    assert read_texts(path) == ["no final newline"]


def test_a_file_of_no_texts_to_classify_is_refused_naming_it(tmp_path):
    for content in (b"", codecs.BOM_UTF8):  # a byte-order mark alone is no line either
        path = tmp_path / "nothing.txt"
        path.write_bytes(content)
        with pytest.raises(InputError) as info:
            read_texts(path)
        assert str(info.value) == f"{path} has no lines to predict: write one text per line"
    path.write_bytes(b"\n")
    assert read_texts(path) == [""]  # one blank line: one empty text, as blank lines are anywhere


@pytest.mark.parametrize(
    ("name", "content", "read"),
    [
        ("texts.txt", b"great film\nawful\n", read_texts),
        ("reviews.txt", b"7\tpos\tgreat film\n8\tneg\tawful\n", read_reviews_tsv),
        ("labelled.txt", b"1 great film\n0 awful\n", read_labelled_file),
        ("labelled.jsonl", b'{"text": "great film", "label": 1}\n{"text": "awful", "label": 0}\n', read_labelled_file),
        ("labelled.json", b'[{"text": "great film", "label": 1}, {"text": "awful", "label": 0}]', read_labelled_file),
        ("labelled.csv", b'"2","great film"\n"1","awful"\n', read_labelled_file),
    ],
    ids=["texts", "reviews-tsv", "labelled-txt", "labelled-jsonl", "labelled-json", "labelled-csv"],
)
def test_a_byte_order_mark_is_not_part_of_the_first_line(name, content, read, tmp_path):
    plain, marked = tmp_path / name, tmp_path / "marked" / name
    marked.parent.mkdir()
    plain.write_bytes(content)
    marked.write_bytes(codecs.BOM_UTF8 + content)  # as Windows editors save UTF-8
    assert read(marked) == read(plain)


# Ids of the first four reviews of each split of the fixture, as the hand-written pipeline before `datasets`
# (commit 73c1f64: readers + spaCy + Vocabulary.build + torch cache) produced them with val_size=4, min_freq=1.
IDS_BEFORE = {
    "train": [
        [11, 12, 9, 20, 9, 10, 18, 8, 20, 11, 12, 22, 22, 5, 19, 6, 5, 8, 18, 14, 13],
        [17, 7, 18, 10, 12, 19, 22, 8, 11, 14, 18, 10, 5, 10, 9, 18, 12, 18, 11, 22, 13],
        [10, 23, 7, 6, 11, 8, 5, 11, 20, 9, 26, 18, 6, 7, 10, 7, 18, 24, 7, 20, 13],
        [19, 25, 8, 17, 10, 26, 17, 10, 8, 8, 28, 7, 7, 9, 9, 8, 7, 8, 11, 7, 13],
    ],
    "val": [
        [21, 9, 19, 20, 8, 6, 7, 20, 6, 10, 30, 5, 10, 19, 7, 5, 9, 21, 7, 5, 13],
        [],
        [19, 8, 9, 10, 9, 6, 5, 12, 19, 7, 14, 19, 17, 18, 19, 18, 8, 11, 10, 33, 13, 35],
        [17, 23, 20, 8, 7, 10, 23, 8, 26, 17, 7, 8, 17, 20, 5, 19, 5, 5, 9, 8, 13],
    ],
    "test": [
        [10, 7, 9, 15, 7, 9, 5, 8, 18, 18, 7, 17, 18, 27, 5, 6, 34, 12, 12, 8, 13, 1],
        [14, 29, 17, 9, 5, 7, 11, 10, 12, 7, 7, 11, 19, 9, 7, 16, 18, 7, 17, 20, 13],
        [10, 18, 19, 8, 14, 8, 15, 11, 5, 10, 18, 9, 18, 22, 6, 18, 17, 5, 11, 17, 13],
        [16, 10, 8, 22, 10, 8, 8, 10, 20, 11, 18, 22, 10, 5, 10, 18, 7, 9, 11, 17, 13],
    ],
}


def test_token_ids_are_those_of_the_pipeline_before_datasets(corpora, tmp_path):
    dm = imdb(corpora, tmp_path)
    dm.setup("fit")
    assert (
        len(dm.i2w) == 37
        and dm.i2w[5:9] == ["movie", "it", "was", "film"]
        and dm.i2w[-3:] == ["masterpiece", "quokka", "\ufffd"]
    )
    for split, expected in IDS_BEFORE.items():
        assert [dm.datasets[split][i]["input_ids"].tolist() for i in range(4)] == expected, split


def test_progress_reaches_a_log_file_not_only_a_terminal(corpora, tmp_path, capfd, caplog):
    with caplog.at_level(logging.INFO):
        imdb(corpora, tmp_path).setup("fit")  # pytest's capfd is a file, as under nohup, SLURM or CI
    err = capfd.readouterr().err
    assert "tokenising imdb train: 100%" in err and "20/20" in err  # the bar, drawn although not a terminal
    assert "tokenising imdb train: 20 texts in" in caplog.text  # and each step's log line
