"""The generated corpora follow docs/corpora.md exactly and repeat for a seed."""

import pytest
import torch

from datamodules.imdb_synth import ADJECTIVES, NOUNS, VERBS, IMDbSynthDataModule
from datamodules.vocab import SPECIAL_TOKENS
from datamodules.xor import XORDataModule


def make(cls, **kwargs):
    dm = cls(train_size=2000, val_size=1000, test_size=500, **kwargs)
    dm.setup()
    return dm


@pytest.mark.parametrize("cls", [XORDataModule, IMDbSynthDataModule])
def test_generation_is_deterministic_per_seed_and_splits_differ(cls):
    a, b, c = make(cls), make(cls), make(cls, seed=1)
    for split in ("train", "val", "test"):
        assert torch.equal(a.datasets[split].sequences, b.datasets[split].sequences)
        assert torch.equal(a.datasets[split].labels, b.datasets[split].labels)
    assert not torch.equal(a.datasets["train"].sequences, c.datasets["train"].sequences)
    assert not torch.equal(a.datasets["train"].sequences[:500], a.datasets["test"].sequences)
    assert len(a.datasets["train"]) == 2000 and len(a.datasets["val"]) == 1000


def test_xor_label_rule_holds_on_every_example():
    dm = make(XORDataModule)
    assert dm.vocab.i2w == [*SPECIAL_TOKENS, "true", "false"] and dm.vocab_size == 7
    for split in ("train", "val"):
        for ids, label in zip(dm.datasets[split].sequences, dm.datasets[split].labels, strict=True):
            first, second = dm.decode(ids)
            assert {first, second} <= {"true", "false"}
            assert label.item() == int(first != second)
    labels = dm.datasets["train"].labels.float()
    assert 0.45 < labels.mean() < 0.55  # half the pairs differ


def test_imdb_synth_slots_and_label_rule_hold_on_every_example():
    dm = make(IMDbSynthDataModule)
    counts = {}
    for ids, label in zip(dm.datasets["train"].sequences, dm.datasets["train"].labels, strict=True):
        this, adjective, noun, verb, intensifier, verdict = dm.decode(ids)
        assert this == "this" and adjective in ADJECTIVES and noun in NOUNS and verb in VERBS
        assert intensifier in ("very", "not") and verdict in ("great", "terrible")
        positive = (intensifier, verdict) in (("very", "great"), ("not", "terrible"))
        assert label.item() == int(positive)
        counts[intensifier, verdict] = counts.get((intensifier, verdict), 0) + 1
    assert all(400 < n < 600 for n in counts.values())  # the four combinations, each about a quarter
    for word in ("very", "not", "great", "terrible"):  # alone, each word says nothing about the label
        column = 4 if word in ("very", "not") else 5
        has = dm.datasets["train"].sequences[:, column] == dm.vocab.w2i[word]
        assert 0.44 < dm.datasets["train"].labels[has].float().mean() < 0.56


def test_imdb_synth_vocabulary_shares_words_that_appear_in_two_lists():
    dm = IMDbSynthDataModule()
    words = {"this", *ADJECTIVES, *NOUNS, *VERBS, "very", "not", "great", "terrible"}
    assert len(ADJECTIVES) == 30 and len(NOUNS) == 27 and len(VERBS) == 6
    assert dm.vocab_size == len(SPECIAL_TOKENS) + len(words) == 70
    assert dm.pad_id == 0 and dm.num_classes == 2


def test_batches_follow_the_contract():
    dm = make(IMDbSynthDataModule, batch_size=16)
    batch = next(iter(dm.train_dataloader()))
    assert batch["input_ids"].shape == (16, 6) and batch["input_ids"].dtype == torch.long
    assert batch["attention_mask"].dtype == torch.bool and batch["attention_mask"].all()
    assert batch["labels"].shape == (16,) and batch["labels"].dtype == torch.long


@pytest.mark.parametrize("name", ["train_size", "val_size", "test_size"])
def test_non_positive_sizes_are_rejected(name):
    with pytest.raises(ValueError, match=f"{name} must be positive"):
        XORDataModule(**{name: -5})
