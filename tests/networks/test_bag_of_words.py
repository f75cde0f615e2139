"""The bag-of-words logistic regression: its counts equal a Counter over the real tokens, its logits W·counts + b."""

from collections import Counter

import pytest
import torch

from lab_errors import InputError
from networks.bag_of_words import BagOfWordsClassifier

IDS = torch.tensor([[5, 3, 5, 5, 0, 0], [2, 7, 3, 2, 9, 1]])  # 0 is [PAD]; row 0 has two padding positions
MASK = torch.tensor([[True, True, True, True, False, False], [True] * 6])


@pytest.mark.parametrize("binary", [False, True])
def test_counts_and_logits_equal_a_counter_and_a_matrix_product(binary):
    model = BagOfWordsClassifier(vocab_size=10, pad_id=0, num_classes=2, binary=binary)
    expected = torch.zeros(2, 10)
    for row, (ids, mask) in enumerate(zip(IDS.tolist(), MASK.tolist(), strict=True)):
        for word, n in Counter(i for i, real in zip(ids, mask, strict=True) if real).items():
            expected[row, word] = 1.0 if binary else float(n)
    torch.testing.assert_close(model.counts(IDS, MASK), expected)
    assert model.counts(IDS, MASK)[0, 5] == (1.0 if binary else 3.0) and model.counts(IDS, MASK)[0, 0] == 0.0
    logits = model(IDS, MASK)
    torch.testing.assert_close(logits, expected @ model.linear.weight.T + model.linear.bias)


def test_padding_and_order_change_nothing():
    model = BagOfWordsClassifier(vocab_size=10, pad_id=0, num_classes=3)
    padded = torch.cat([IDS, torch.zeros(2, 4, dtype=torch.long)], dim=1)
    padded_mask = torch.cat([MASK, torch.zeros(2, 4, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(model(padded, padded_mask), model(IDS, MASK))
    reversed_ids, reversed_mask = IDS.flip(1), MASK.flip(1)
    torch.testing.assert_close(model(reversed_ids, reversed_mask), model(IDS, MASK))


def test_gradients_reach_only_the_words_present():
    model = BagOfWordsClassifier(vocab_size=10, pad_id=0, num_classes=2)
    model(IDS[:1], MASK[:1]).sum().backward()
    touched = model.linear.weight.grad.abs().sum(0).nonzero().flatten().tolist()
    assert touched == [3, 5]  # the real words of row 0; its padding id 0 gets no gradient


def test_bad_sizes_are_refused():
    with pytest.raises(InputError, match="vocab_size"):
        BagOfWordsClassifier(vocab_size=0, pad_id=0, num_classes=2)
    with pytest.raises(InputError, match="num_classes"):
        BagOfWordsClassifier(vocab_size=10, pad_id=0, num_classes=1)
