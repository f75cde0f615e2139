"""Pooling over real tokens and the classifier networks of the ladder."""

import pytest
import torch

from layers.attention import MultiHeadAttention, SimpleSelfAttention
from layers.classifier import SequenceClassifierNet, ShallowEncoder
from layers.pooling import Pool, masked_max, masked_mean
from layers.transformer import TransformerConfig, TransformerEncoder
from tests.utils import assert_close, padding_mask


def test_pools_ignore_padding_and_all_padding_rows_give_zeros():
    x = torch.randn(3, 4, 5)
    mask = padding_mask([4, 2, 0], 4)
    x_garbage = x.clone()
    x_garbage[~mask] = 1e4
    assert_close(masked_mean(x_garbage, mask)[1], x[1, :2].mean(0))
    assert_close(masked_max(x_garbage, mask)[1], x[1, :2].amax(0))
    assert (masked_mean(x_garbage, mask)[2] == 0).all() and (masked_max(x_garbage, mask)[2] == 0).all()
    assert_close(Pool("first")(x, mask), x[:, 0])
    with pytest.raises(ValueError, match="unknown pool"):
        Pool("avg")


def encoders(vocab=20, d=16):
    return {
        "none": ShallowEncoder(vocab, d),
        "simple_attention": ShallowEncoder(vocab, d, SimpleSelfAttention()),
        "attention": ShallowEncoder(vocab, d, MultiHeadAttention(d, 4), positions="learned", max_len=12),
        "transformer": TransformerEncoder(TransformerConfig(vocab, d, 4, 2, max_len=12, dropout=0.0)),
    }


@pytest.mark.parametrize("kind", ["none", "simple_attention", "attention", "transformer"])
@pytest.mark.parametrize("pool", ["mean", "max", "first"])
def test_every_rung_ignores_appended_padding(kind, pool):
    net = SequenceClassifierNet(encoders()[kind], 16, num_classes=3, pool=pool).eval()
    ids, mask = torch.randint(1, 20, (3, 6)), padding_mask([6, 4, 2], 6)
    logits = net(ids, mask)
    assert logits.shape == (3, 3)
    longer = torch.cat([ids, torch.randint(1, 20, (3, 3))], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(3, 3, dtype=torch.bool)], dim=1)
    assert_close(net(longer, longer_mask), logits)


def test_attention_weights_come_back_per_layer():
    net = SequenceClassifierNet(encoders()["transformer"], 16, 2)
    _, weights = net(torch.randint(1, 20, (2, 5)), return_weights=True)
    assert len(weights) == 2 and weights[0].shape == (2, 4, 5, 5)
    baseline = SequenceClassifierNet(encoders()["none"], 16, 2)
    assert baseline(torch.randint(1, 20, (2, 5)), return_weights=True)[1] == []
    with pytest.raises(ValueError, match="at least 2"):
        SequenceClassifierNet(encoders()["none"], 16, 1)


def test_a_tanh_hidden_layer_sits_between_the_pool_and_the_output():
    net = SequenceClassifierNet(encoders()["none"], 16, num_classes=2, hidden_size=20)
    first, activation, last = net.head
    assert (first.in_features, first.out_features, last.out_features) == (16, 20, 2)
    assert isinstance(activation, torch.nn.Tanh)
