"""Padding collate, length bucketing and the vocabulary."""

import pytest
import torch

from datamodules.batching import BucketBatchSampler, PadCollate, TokenDataset
from datamodules.vocab import SPECIAL_TOKENS, Vocabulary
from lab_errors import InputError


def test_pad_collate_pads_to_the_longest_and_masks_the_padding():
    batch = PadCollate(pad_id=0)([{"input_ids": [5, 6, 7], "labels": 1}, {"input_ids": [8], "labels": 0}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["labels"].tolist() == [1, 0]


def test_pad_collate_truncates_to_max_len_and_survives_empty_texts():
    batch = PadCollate(pad_id=0, max_len=2)([{"input_ids": [5, 6, 7, 9]}, {"input_ids": []}])
    assert batch["input_ids"].tolist() == [[5, 6], [0, 0]]
    assert batch["attention_mask"].tolist() == [[True, True], [False, False]]
    assert "labels" not in batch
    empty = PadCollate(pad_id=0)([{"input_ids": []}])
    assert empty["input_ids"].shape == (1, 1) and not empty["attention_mask"].any()


def test_head_and_tail_truncation_keeps_the_start_and_the_end():
    long, short = {"input_ids": list(range(1, 9))}, {"input_ids": [1, 2, 3]}
    batch = PadCollate(pad_id=0, max_len=5, keep_tail=2)([long, short])
    assert batch["input_ids"].tolist() == [[1, 2, 3, 7, 8], [1, 2, 3, 0, 0]]  # a short one is never cut
    assert PadCollate(0, 5, keep_last=True, keep_tail=2)([long])["input_ids"].tolist() == [[1, 2, 3, 7, 8]]
    assert PadCollate(0, 5, keep_last=True)([long])["input_ids"].tolist() == [[1, 2, 3, 4, 8]]  # [SEP] alone
    assert PadCollate(0, 5, keep_tail=5)([long])["input_ids"].tolist() == [[4, 5, 6, 7, 8]]  # the tail alone
    assert PadCollate(0, 5, keep_tail=0)([long])["input_ids"].tolist() == [[1, 2, 3, 4, 5]]
    for bad, max_len in ((6, 5), (-1, 5), (2, None)):
        with pytest.raises(InputError, match="keep_tail must be between 0 and max_len"):
            PadCollate(0, max_len, keep_tail=bad)


def test_bucketing_covers_every_example_once_with_less_padding():
    torch.manual_seed(0)
    lengths = torch.randint(1, 200, (1000,)).tolist()
    sampler = BucketBatchSampler(lengths, batch_size=16, pool_batches=10)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    assert sorted(i for b in batches for i in b) == list(range(1000))

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    shuffled = torch.randperm(1000).tolist()
    plain = [shuffled[i : i + 16] for i in range(0, 1000, 16)]
    assert padding(batches) < 0.2 * padding(plain)
    torch.manual_seed(0)
    again = list(BucketBatchSampler(lengths, batch_size=16, pool_batches=10))
    torch.manual_seed(0)
    assert again == list(BucketBatchSampler(lengths, batch_size=16, pool_batches=10))


def test_token_dataset_checks_labels_match():
    dataset = TokenDataset([[1, 2], [3]], [0, 1])
    assert dataset[1] == {"input_ids": [3], "labels": 1} and dataset.lengths() == [2, 1]
    try:
        TokenDataset([[1]], [0, 1])
    except ValueError as err:
        assert "1 sequences but 2 labels" in str(err)
    else:
        raise AssertionError("mismatched labels accepted")


def test_vocabulary_build_encode_decode_and_round_trip(tmp_path):
    texts = [["b", "a", "c"], ["a", "b"], ["a", "d"]]
    vocab = Vocabulary.build(texts, min_freq=2)
    assert vocab.i2w == [*SPECIAL_TOKENS, "a", "b"]  # by frequency, then alphabetically
    assert vocab.encode(["a", "zzz"]) == [5, vocab.unk_id]
    assert Vocabulary.build(texts, max_size=6).i2w[-1] == "a"
    assert vocab.decode([0, 5, 6], skip_special=True) == ["a", "b"]
    vocab.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json").i2w == vocab.i2w
    assert vocab.pad_id == 0 and vocab.mask_id == 4
