"""Encoder classifiers: BERT run by Hugging Face and by the hand-built stack agree, the heads ignore padding,
a frozen encoder gets no gradient and stays in eval mode, and bad sources fail in one line."""

import functools
import time

import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

from lab_errors import InputError
from layers.transformer import TransformerConfig
from networks.classifier import EncoderClassifier
from networks.encoder_sources import BertEncoder, HuggingFaceBertEncoder, ScratchEncoder
from networks.heads import BiGRUHead, PooledHead, left_align
from tests.utils import assert_close, padding_mask

VOCAB = 60


@pytest.fixture
def bert_dir(tmp_path):
    """A tiny random BERT saved as save_pretrained writes it."""
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=24,
    )
    model = BertModel(config, add_pooling_layer=False)
    with torch.no_grad():  # a distinct segment-0 vector, so forgetting to fold it in would show
        model.embeddings.token_type_embeddings.weight.normal_()
    model.save_pretrained(tmp_path / "bert")
    return str(tmp_path / "bert")


def net(encoder, head, frozen=False, vocab=VOCAB):
    return EncoderClassifier(vocab, 0, 3, encoder, head, frozen)


def batch(lengths, max_len=12):
    mask = padding_mask(lengths, max_len)
    ids = torch.randint(1, VOCAB, mask.shape).masked_fill(~mask, 0)
    return ids, mask


gru_head = functools.partial(BiGRUHead, hidden_size=16, num_layers=2, dropout=0.2)
mean_head = functools.partial(PooledHead, pool="mean", dropout=0.2)
cls_head = functools.partial(PooledHead, pool="first", dropout=0.2)


@pytest.mark.parametrize("head", [gru_head, mean_head, cls_head], ids=["gru", "mean", "cls"])
def test_hugging_face_and_hand_built_bert_give_the_same_logits(bert_dir, head):
    theirs = net(functools.partial(HuggingFaceBertEncoder, name_or_dir=bert_dir), head).eval()
    ours = net(functools.partial(BertEncoder, name_or_dir=bert_dir), head).eval()
    ours.head.load_state_dict(theirs.head.state_dict())
    ids, mask = batch([12, 7, 3])
    with torch.no_grad():
        expected = theirs(ids, mask)
        assert_close(ours.encoder(ids, mask)[mask], theirs.encoder(ids, mask)[mask])
        assert_close(ours(ids, mask), expected)
    assert expected.shape == (3, 3)
    assert ours.encoder.width == theirs.encoder.width == 32


@pytest.mark.parametrize("head", [gru_head, mean_head, cls_head], ids=["gru", "mean", "cls"])
def test_appending_padding_leaves_the_logits_equal(head):
    model = net(
        functools.partial(ScratchEncoder, transformer=TransformerConfig(d_model=32, n_heads=4, n_layers=2, max_len=24)),
        head,
    ).eval()
    ids, mask = batch([9, 5, 2], max_len=9)
    longer_ids = torch.cat([ids, torch.zeros(3, 6, dtype=torch.long)], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(3, 6, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        assert_close(model(longer_ids, longer_mask), model(ids, mask))
        # Each row alone, unpadded, is classified as in the batch.
        for row, length in enumerate([9, 5, 2]):
            alone = model(ids[row : row + 1, :length], mask[row : row + 1, :length])
            assert_close(alone, model(ids, mask)[row : row + 1])


def test_the_gru_head_reads_real_tokens_wherever_the_padding_is():
    head = BiGRUHead(8, 2, hidden_size=5, num_layers=2, dropout=0.0)
    hidden = torch.randn(1, 4, 8)
    right = head(hidden, torch.tensor([[True, True, True, False]]))
    gap = torch.cat([hidden[:, :1], torch.randn(1, 1, 8), hidden[:, 1:3]], dim=1)  # padding in the middle
    assert_close(head(gap, torch.tensor([[True, False, True, True]])), right)
    aligned, lengths = left_align(gap, torch.tensor([[True, False, True, True]]))
    assert_close(aligned[:, :3], hidden[:, :3])
    assert lengths.tolist() == [3]


def test_gru_head_shapes_and_final_states():
    head = BiGRUHead(8, 4, hidden_size=6, num_layers=3, dropout=0.0).eval()
    hidden = torch.randn(2, 5, 8)
    mask = padding_mask([5, 3], 5)
    assert head(hidden, mask).shape == (2, 4)
    # The concatenated states are the last layer's forward state at the last real token and its backward
    # state at the first: recompute them with the GRU on the unpadded second row.
    outputs, _ = head.gru(hidden[1:, :3])  # (1, 3, 2·6)
    expected = head.out(torch.cat([outputs[:, -1, :6], outputs[:, 0, 6:]], dim=-1))
    assert_close(head(hidden, mask)[1:], expected)


def test_no_gradient_reaches_a_frozen_encoder():
    model = net(
        functools.partial(ScratchEncoder, transformer=TransformerConfig(d_model=32, n_heads=4, n_layers=1, max_len=24)),
        gru_head,
        frozen=True,
    )
    model.train()
    ids, mask = batch([12, 4])
    torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 2])).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.head.parameters())
    # Unfrozen, the same model sends gradients into the encoder.
    model.freeze_encoder(False)
    torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 2])).backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_a_frozen_encoder_stays_in_eval_mode_when_the_model_trains():
    model = net(
        functools.partial(
            ScratchEncoder, transformer=TransformerConfig(d_model=32, n_heads=4, n_layers=1, dropout=0.5)
        ),
        mean_head,
        True,
    )
    model.train()
    assert model.training and model.head.training
    assert not any(m.training for m in model.encoder.modules())
    ids, mask = batch([12, 6])
    with torch.no_grad():  # dropout 0.5 in the encoder would make two passes differ
        assert_close(model.encoder(ids, mask), model.encoder(ids, mask))
    model.freeze_encoder(False)
    assert all(m.training for m in model.encoder.modules())
    model.eval().freeze_encoder(False)
    assert not any(m.training for m in model.modules())


def test_a_vocabulary_other_than_pretraining_fails_in_one_line(bert_dir):
    with pytest.raises(InputError, match=r"pretrained on 60 token ids, the data module has 61: pretrain and fine-tune"):
        net(functools.partial(BertEncoder, name_or_dir=bert_dir), mean_head, vocab=VOCAB + 1)
    with pytest.raises(InputError, match="same tokenizer"):
        net(functools.partial(HuggingFaceBertEncoder, name_or_dir=bert_dir), mean_head, vocab=VOCAB - 1)


@pytest.mark.parametrize("source", [BertEncoder, HuggingFaceBertEncoder])
def test_bad_model_folders_and_offline_names_fail_fast_in_one_line(tmp_path, source):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("not a model")
    with pytest.raises(InputError, match=r"notes is not a saved Hugging Face model \(no config\.json\)"):
        source(VOCAB, str(tmp_path / "notes"))
    with pytest.raises(InputError, match="no such model folder"):
        source(VOCAB, str(tmp_path / "missing"))
    GPT2Model(GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=1, n_head=2, n_positions=8)).save_pretrained(
        tmp_path / "gpt2"
    )
    with pytest.raises(InputError, match=r"holds a 'gpt2' model; a 'bert' model is needed here"):
        source(VOCAB, str(tmp_path / "gpt2"))
    start = time.monotonic()  # tests run with HF_HUB_OFFLINE=1 (tests/conftest.py)
    with pytest.raises(InputError, match="not in the local Hugging Face cache and the hub cannot be reached"):
        source(VOCAB, "no-such-org/no-such-bert")
    with pytest.raises(InputError, match=r"not a valid name!: no such model folder \(nor a valid hub name\)"):
        source(VOCAB, "not a valid name!")
    assert time.monotonic() - start < 10


def test_bad_head_settings_are_input_errors():
    with pytest.raises(InputError, match="dropout must be in"):
        BiGRUHead(8, 2, dropout=1.0)
    with pytest.raises(InputError, match="hidden_size and num_layers must be positive"):
        BiGRUHead(8, 2, num_layers=0)
    with pytest.raises(InputError, match="unknown pool"):
        PooledHead(8, 2, pool="cls")
