"""The classifier networks of the ladder, each an EncoderClassifier of an encoder and a PooledHead."""

import functools

import pytest
import torch

from lab_errors import InputError
from layers.attention import MultiHeadAttention, SimpleSelfAttention
from layers.transformer import TransformerConfig
from networks.classifier import EncoderClassifier
from networks.embedding_encoder import EmbeddingEncoder
from networks.encoder_sources import ScratchEncoder
from networks.heads import PooledHead
from tests.utils import assert_close, padding_mask

VOCAB, WIDTH = 20, 16


def encoders():
    """Each rung's encoder as the factory EncoderClassifier calls with the vocabulary size."""
    small = TransformerConfig(d_model=WIDTH, n_heads=4, n_layers=2, max_len=12, dropout=0.0)
    return {
        "none": functools.partial(EmbeddingEncoder, d_model=WIDTH),
        "simple_attention": functools.partial(EmbeddingEncoder, d_model=WIDTH, mixer=SimpleSelfAttention()),
        "attention": functools.partial(
            EmbeddingEncoder, d_model=WIDTH, mixer=MultiHeadAttention(WIDTH, 4), positions="learned", max_len=12
        ),
        "transformer": functools.partial(ScratchEncoder, transformer=small),
    }


def classifier(kind: str, num_classes: int = 3, **head) -> EncoderClassifier:
    return EncoderClassifier(
        VOCAB, 0, num_classes, encoders()[kind], functools.partial(PooledHead, dropout=0.0, **head)
    )


@pytest.mark.parametrize("kind", ["none", "simple_attention", "attention", "transformer"])
@pytest.mark.parametrize("pool", ["mean", "max", "first"])
def test_every_rung_ignores_appended_padding(kind, pool):
    net = classifier(kind, pool=pool).eval()
    ids, mask = torch.randint(1, VOCAB, (3, 6)), padding_mask([6, 4, 2], 6)
    logits = net(ids, mask)
    assert logits.shape == (3, 3)
    longer = torch.cat([ids, torch.randint(1, VOCAB, (3, 3))], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(3, 3, dtype=torch.bool)], dim=1)
    assert_close(net(longer, longer_mask), logits)


def test_the_bag_of_words_rung_is_the_mean_embedding_through_a_linear_layer():
    net = classifier("none", num_classes=2).eval()
    ids, mask = torch.randint(1, VOCAB, (2, 5)), padding_mask([5, 3], 5)
    embedded = net.encoder.tok_emb(ids)
    expected = torch.stack([embedded[0].mean(0), embedded[1, :3].mean(0)]) @ net.head.out.weight.T + net.head.out.bias
    assert_close(net(ids, mask), expected)


def test_attention_weights_come_back_per_layer_where_there_are_any():
    net = classifier("transformer", num_classes=2)
    _, weights = net(torch.randint(1, VOCAB, (2, 5)), return_weights=True)
    assert len(weights) == 2 and weights[0].shape == (2, 4, 5, 5)
    simple = classifier("simple_attention", num_classes=2)
    _, (weights,) = simple(torch.randint(1, VOCAB, (2, 5)), return_weights=True)
    assert weights.shape == (2, 5, 5) and torch.allclose(weights.sum(-1), torch.ones(2, 5))
    baseline = classifier("none", num_classes=2)
    assert not baseline.shows_attention
    with pytest.raises(ValueError, match="no attention weights"):
        baseline(torch.randint(1, VOCAB, (2, 5)), return_weights=True)


def test_a_tanh_hidden_layer_sits_between_the_pool_and_the_output():
    net = classifier("none", num_classes=2, hidden_size=20)
    first, activation, last = net.head.out
    assert (first.in_features, first.out_features, last.out_features) == (WIDTH, 20, 2)
    assert isinstance(activation, torch.nn.Tanh)


def test_what_the_network_reads_is_what_its_positions_cover():
    assert classifier("none").max_len is None  # no positions: any length
    assert classifier("attention").max_len == 12
    assert classifier("transformer").max_len == 12


def test_bad_settings_are_one_line_input_errors():
    with pytest.raises(InputError, match="at least 2"):
        classifier("none", num_classes=1)
    with pytest.raises(InputError, match="mixer's d_model"):
        EmbeddingEncoder(VOCAB, d_model=16, mixer=MultiHeadAttention(32, 4))
    with pytest.raises(InputError, match="freeze_embeddings needs word_vectors"):
        EmbeddingEncoder(VOCAB, d_model=16, freeze_embeddings=True)
    with pytest.raises(InputError, match="hidden_size"):
        PooledHead(16, 2, hidden_size=0)


def test_frozen_word_vectors_get_no_gradient(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("a 1 0 0 0\nb 0 1 0 0\n")
    encoder = EmbeddingEncoder(3, d_model=4, word_vectors=str(vectors), freeze_embeddings=True)
    report = encoder.load_vectors(["[PAD]", "a", "b"], special_ids=[0])
    assert report.found == 2
    assert_close(encoder.tok_emb.weight[1:], torch.eye(4)[:2])
    assert not encoder.tok_emb.weight.requires_grad
