"""Language-model data: slices, windows, the toy grammar, enwik8 bytes and text files."""

import codecs
import gzip
import zipfile
from pathlib import Path

import pytest
import torch

from datamodules.encoders import CharEncoder
from datamodules.lm import IGNORE, BatchNumbers, RandomSlices, Windows
from datamodules.lm_corpora import Enwik8DataModule, TextFileDataModule, read_bytes
from datamodules.toy_grammar import GRAMMAR, ToyGrammarDataModule, generate_text
from lab_errors import InputError
from lightning_modules.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_slice_target_is_its_input_shifted_by_one():
    tokens = torch.arange(1000)
    batch = RandomSlices(tokens, seq_len=16, batch_size=8, seed=0)[0]
    assert batch["input_ids"].shape == batch["labels"].shape == (8, 16) and batch["attention_mask"].all()
    assert torch.equal(batch["labels"], batch["input_ids"] + 1)  # arange: the next token is one more
    assert torch.equal(batch["labels"][:, :-1], batch["input_ids"][:, 1:])
    assert not batch["input_ids"].requires_grad


def test_batches_depend_on_seed_and_batch_number_only():
    tokens = torch.arange(1000)
    a, b = RandomSlices(tokens, 16, 8, seed=0), RandomSlices(tokens, 16, 8, seed=0)
    assert torch.equal(a[5]["input_ids"], b[5]["input_ids"]) and not torch.equal(a[5]["input_ids"], a[6]["input_ids"])
    sampler = BatchNumbers(4)
    sampler.set_epoch(2)
    assert list(sampler) == [8, 9, 10, 11]  # a resumed epoch 2 draws the batches an uninterrupted one would
    last = RandomSlices(tokens, 16, 8, seed=0, last_token_only=True)[0]["labels"]
    assert (last[:, :-1] == IGNORE).all() and (last[:, -1] != IGNORE).all()


@pytest.mark.parametrize(("n", "seq_len", "stride"), [(1000, 64, None), (300, 64, 20), (50, 64, None), (65, 64, None)])
def test_windows_score_every_token_but_the_first_exactly_once(n, seq_len, stride):
    tokens = torch.arange(n)
    windows = Windows(tokens, seq_len, stride)
    scored = []
    for i in range(len(windows)):
        item = windows[i]
        keep = item["labels"] != IGNORE
        assert torch.equal(item["labels"][keep], item["input_ids"][keep] + 1)
        scored += item["labels"][keep].tolist()
    assert sorted(scored) == list(range(1, n))


def test_a_corpus_shorter_than_one_slice_is_a_clear_error():
    with pytest.raises(ValueError, match="shorter than one slice of 17"):
        RandomSlices(torch.arange(10), seq_len=16, batch_size=2, seed=0)
    dm = ToyGrammarDataModule(train_chars=50, val_chars=50, seq_len=64)
    with pytest.raises(ValueError, match="the train split has 50 tokens, fewer than one slice of 65"):
        dm.setup()
    dm = ToyGrammarDataModule(train_chars=500, val_chars=50, seq_len=64)  # a long enough train split is not enough
    with pytest.raises(ValueError, match="the val split has 50 tokens"):
        dm.setup()


def test_the_toy_grammar_follows_its_rules_and_repeats_for_a_seed():
    text, bits_per_char = generate_text(20_000, seed=0)
    assert len(text) == 20_000 and text == generate_text(20_000, seed=0)[0] != generate_text(20_000, seed=1)[0]
    terminals = {w[0] for name, prods in GRAMMAR.items() for p in prods for w in [p] if len(p) == 1}
    terminals |= {"a", "the", "(", ")", "."}
    assert set(text.split()[:-1]) <= terminals  # the last word may be cut
    assert 0.5 < bits_per_char < 0.56  # the spec's floor: at most about 0.55 bits per character


def test_toy_grammar_module_vocabulary_and_splits():
    dm = ToyGrammarDataModule(train_chars=5000, val_chars=1000, seq_len=32, batch_size=4, batches_per_epoch=3)
    dm.setup()
    assert dm.i2w[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert "".join(dm.i2w[5:]) == "".join(sorted(set(generate_text(5000, 0)[0])))
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 5000, "val": 1000, "test": 1000}
    assert len(dm.train_dataloader()) == 3 and len(dm.val_dataloader()) == 2
    assert dm.entropy_bound == pytest.approx(generate_text(5000, 0)[1])
    assert len(dm.sample_prompt(16)) == 16


@pytest.mark.parametrize("kind", ["plain", "gz", "zip"])
def test_enwik8_reads_bytes_in_every_packaging_and_splits_90_5_5(tmp_path, kind):
    data = ("<page>héllo wörld</page>\n" * 200).encode()
    path = tmp_path / {"plain": "enwik8", "gz": "enwik8.gz", "zip": "enwik8.zip"}[kind]
    if kind == "plain":
        path.write_bytes(data)
    elif kind == "gz":
        path.write_bytes(gzip.compress(data))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("enwik8", data)
    assert read_bytes(path) == data
    empty = tmp_path / f"empty{path.suffix}"
    empty.write_bytes(gzip.compress(b"") if kind == "gz" else b"")
    if kind != "zip":
        with pytest.raises(ValueError, match="is empty"):
            read_bytes(empty)
    dm = Enwik8DataModule(path=str(path), seq_len=32)
    dm.setup()
    assert dm.vocab_size == 256 and dm.special_ids == []
    splits = dm.splits
    n = len(data)  # bytes, not characters: é and ö take two each
    assert [len(splits[s]) for s in ("train", "val", "test")] == [
        int(0.9 * n),
        int(0.95 * n) - int(0.9 * n),
        n - int(0.95 * n),
    ]
    assert bytes(torch.cat([splits["train"], splits["val"], splits["test"]]).tolist()) == data


def test_text_file_module_and_prompts_outside_the_vocabulary(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("abcabcabc " * 90 + "xyz")  # x, y, z only in the last 10%: not in the vocabulary
    dm = TextFileDataModule(path=str(path), seq_len=16)
    dm.setup()
    assert "x" not in dm.vocab and dm.vocab.unk_id in dm.splits["test"].tolist()
    encoder = dm.text_encoder
    assert isinstance(encoder, CharEncoder) and encoder.encode("cab") == [encoder.vocab.w2i[c] for c in "cab"]
    with pytest.raises(ValueError, match="characters outside the model's vocabulary: 'QZ'"):
        encoder.encode("aQbZ")


def test_a_byte_order_mark_is_not_part_of_a_text_file(tmp_path):
    plain, marked = tmp_path / "plain.txt", tmp_path / "marked.txt"
    plain.write_text("great film " * 60)
    marked.write_bytes(codecs.BOM_UTF8 + plain.read_bytes())
    with_mark, without = (TextFileDataModule(path=str(path), seq_len=16) for path in (marked, plain))
    with_mark.setup(), without.setup()
    assert with_mark.i2w == without.i2w and "\ufeff" not in with_mark.vocab
    assert all(torch.equal(with_mark.splits[s], without.splits[s]) for s in ("train", "val", "test"))


@pytest.mark.parametrize(
    ("data", "file", "content", "expected"),
    [
        ("Enwik8DataModule", "short.gz", gzip.compress(b"<page>too short</page>"), "the train split has 19 tokens"),
        ("Enwik8DataModule", "missing.gz", None, "no such file"),
        ("TextFileDataModule", "empty.txt", b"", "is empty"),
        ("TextFileDataModule", "missing.txt", None, "no such file"),
        ("TextFileDataModule", "short.txt", b"a short text", "the train split has 10 tokens"),
        ("TextFileDataModule", "corpus.gz", b"not gzip at all", "is not a gzip file"),
    ],
    ids=["enwik8-short", "enwik8-missing", "text-empty", "text-missing", "text-short", "text-not-gzip"],
)
def test_a_corpus_file_that_cannot_serve_is_named_in_one_line(data, file, content, expected, cli_in_tmp_path, capsys):
    path = cli_in_tmp_path / file
    if content is not None:
        path.write_bytes(content)
    args = ["fit", "--config", str(ROOT / "configs/toy_lm/transformer.yaml"), "--trainer.enable_progress_bar", "false"]
    args += ["--data", f"datamodules.lm_corpora.{data}", "--data.init_args.path", str(path)]
    args += ["--data.init_args.seq_len", "32", "--model.init_args.transformer.max_len", "32"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 2, err  # the line, then the LAB_DEBUG hint
    assert err[0].startswith(f"error: {path}") and expected in err[0], err


def test_a_short_corpus_file_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "enwik8"
    path.write_bytes(b"x" * 600)  # the validation split, 5% of it, is 30 bytes: less than one slice of 33
    with pytest.raises(InputError) as info:
        Enwik8DataModule(path=str(path), seq_len=32).setup()
    assert str(info.value) == (
        f"{path}: the val split has 30 tokens, fewer than one slice of 33: use a longer text (600 tokens in all) "
        "or a smaller seq_len"
    )


def test_processes_draw_disjoint_batches_every_epoch():
    for epoch in (0, 3):
        numbers = []
        for rank in range(3):
            sampler = BatchNumbers(5, rank=rank, world_size=3)
            sampler.set_epoch(epoch)
            numbers.append(list(sampler))
        flat = sorted(n for ns in numbers for n in ns)
        assert flat == list(range(epoch * 15, epoch * 15 + 15))  # all of the epoch's batches, each once
    assert isinstance(BatchNumbers(2), torch.utils.data.DistributedSampler)  # so Lightning keeps it under DDP
