"""Hugging Face GPT-2 and BERT, tiny and random, copied into our stacks: the same outputs."""

import logging
import warnings

import pytest
import torch
from transformers import BertConfig, BertForPreTraining, BertModel, GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from networks.pretrained import load_bert, load_gpt2, load_hf_bert
from tests.utils import assert_close, padding_mask


def tiny_gpt2_config(**overrides) -> GPT2Config:
    """A tiny random GPT-2, dropout off unless asked for (so training-mode graphs compare too)."""
    fields = dict(
        vocab_size=60,
        n_positions=24,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return GPT2Config(**(fields | overrides))


def tiny_bert_config(**overrides) -> BertConfig:
    fields = dict(
        vocab_size=60,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=24,
    )
    return BertConfig(**(fields | overrides))


@pytest.fixture
def gpt2():
    return GPT2LMHeadModel(tiny_gpt2_config()).eval()


@pytest.fixture
def bert():
    model = BertModel(tiny_bert_config(), add_pooling_layer=False).eval()
    with torch.no_grad():  # a distinct segment-0 vector, so forgetting to fold it in would show
        model.embeddings.token_type_embeddings.weight.normal_()
    return model


@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_gpt2_logits_match_hugging_face(gpt2, attn_impl):
    ours = load_gpt2(gpt2).eval()
    for block in ours.transformer.blocks:
        block.attn.attn_impl = attn_impl
    ids = torch.randint(0, 60, (3, 20))
    with torch.no_grad():
        assert_close(ours(ids), gpt2(ids).logits)


def test_gpt2_gradients_match_hugging_face(gpt2):
    gpt2.train()
    ours = load_gpt2(gpt2).train()
    ids = torch.randint(0, 60, (2, 12))
    loss_ours = torch.nn.functional.cross_entropy(ours(ids)[:, :-1].reshape(-1, 60), ids[:, 1:].reshape(-1))
    loss_theirs = gpt2(ids, labels=ids).loss
    assert_close(loss_ours, loss_theirs)
    loss_ours.backward()
    loss_theirs.backward()
    assert_close(
        ours.transformer.blocks[0].attn.qkv_proj.weight.grad,
        gpt2.transformer.h[0].attn.c_attn.weight.grad.t(),
    )
    assert_close(ours.transformer.tok_emb.weight.grad, gpt2.transformer.wte.weight.grad)


def test_bert_hidden_states_match_hugging_face_with_padding(bert):
    ours = load_bert(bert).eval()
    ids = torch.randint(0, 60, (3, 15))
    mask = padding_mask([15, 9, 3], 15)
    with torch.no_grad():
        expected = bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        assert_close(ours(ids, mask)[mask], expected[mask])


def test_bert_in_training_mode_draws_the_same_dropout_as_bert_model():
    """With dropout on, the same seed gives BertModel's hidden states: the stack draws its dropout masks where
    BERT does (embeddings, attention weights, after each sublayer) and nowhere else; a dropout BERT lacks (on
    the feed-forward's hidden activations) would draw other masks and change the values."""
    config = tiny_bert_config(
        hidden_dropout_prob=0.2,
        attention_probs_dropout_prob=0.2,
        attn_implementation="eager",  # dropout on the weights as a tensor op, as the hand-built path does it
    )
    bert = BertModel(config, add_pooling_layer=False).train()
    ours = load_bert(bert).train()
    assert all(block.ff.dropout.p == 0.0 for block in ours.blocks)
    ids = torch.randint(0, 60, (3, 15))
    mask = padding_mask([15, 9, 3], 15)
    torch.manual_seed(1)
    expected = bert(input_ids=ids, attention_mask=mask.long()).last_hidden_state
    torch.manual_seed(1)
    got = ours(ids, mask)
    assert_close(got[mask], expected[mask])
    torch.manual_seed(2)  # another seed, other masks: the comparison is not vacuous
    assert not torch.allclose(ours(ids, mask)[mask], expected[mask])


def test_gpt2_in_training_mode_draws_the_same_dropout_as_gpt2():
    config = tiny_gpt2_config(resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2, attn_implementation="eager")
    gpt2 = GPT2LMHeadModel(config).train()
    ours = load_gpt2(gpt2).train()
    ids = torch.randint(0, 60, (2, 12))
    torch.manual_seed(1)
    expected = gpt2(ids).logits
    torch.manual_seed(1)
    assert_close(ours(ids), expected)


def load_and_listen(folder, capsys):
    """The model, our warnings, and whether transformers logged its load report or drew its loading bar."""
    records = []
    listener = logging.Handler()
    listener.emit = records.append
    hf_logging.add_handler(listener)
    capsys.readouterr()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = load_hf_bert(str(folder))
    finally:
        hf_logging.remove_handler(listener)
    ours = [str(w.message) for w in caught if "BertModel weight" in str(w.message)]
    reported = any("LOAD REPORT" in r.getMessage() for r in records) or "Loading weights" in capsys.readouterr().err
    return model, ours, reported


def test_a_checkpoint_with_a_pooler_and_heads_loads_without_a_report_and_equal_weights(tmp_path, capsys):
    source = BertForPreTraining(tiny_bert_config()).eval()  # bert.*, a pooler and cls.* heads
    source.save_pretrained(tmp_path)
    model, ours, reported = load_and_listen(tmp_path, capsys)
    assert ours == [] and not reported
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, source.bert.state_dict()[name], rtol=0, atol=0)


def test_weights_the_checkpoint_lacks_or_carries_besides_are_named_in_one_warning_each(tmp_path, capsys):
    source = BertModel(tiny_bert_config(), add_pooling_layer=False)
    state = source.state_dict()
    del state["encoder.layer.1.output.dense.bias"]
    state["adapter.weight"] = torch.zeros(2)
    source.save_pretrained(tmp_path, state_dict=state)
    _, ours, reported = load_and_listen(tmp_path, capsys)
    assert not reported
    assert ours == [
        f"{tmp_path}: 1 BertModel weight(s) missing from it, initialised at random: encoder.layer.1.output.dense.bias",
        f"{tmp_path}: 1 BertModel weight(s) in it and not read: adapter.weight",
    ]
