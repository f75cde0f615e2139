"""The hand-built stacks written as Hugging Face GPT-2 and BERT: the same outputs for every option the two can
express (and read back by networks/pretrained.py, the same again), one line naming each option they cannot."""

import pytest
import torch

from lab_errors import InputError
from layers.transformer import TransformerConfig, TransformerEncoder, TransformerLM
from networks.pretrained import load_bert, load_gpt2
from networks.pretrained_export import bert_from_lab, gpt2_from_lab
from tests.utils import assert_close, padding_mask

TINY = {"vocab_size": 40, "d_model": 16, "n_heads": 2, "n_layers": 2, "max_len": 12, "dropout": 0.0}
BERT = {**TINY, "norm": "post", "embedding_norm": True}


def randomized(module):
    """Every tensor drawn (norm gains around 1), so a tensor written to the wrong place changes the output."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(
                1.0 + 0.2 * torch.randn_like(p)
                if "norm" in name and name.endswith("weight")
                else 0.3 * torch.randn_like(p)
            )
    return module.eval()


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"bias": False, "activation": "gelu_tanh", "eps": 1e-6, "d_ff": 24},
        {"positions": "none", "activation": "relu"},
    ],
    ids=["gpt2-like", "no-bias-tanh-gelu", "no-positions"],
)
def test_a_language_model_is_gpt2_and_back(options):
    lab = randomized(TransformerLM(TransformerConfig(**{**TINY, **options})))
    hf = gpt2_from_lab(lab, bos_token_id=None, eos_token_id=None)
    ids = torch.randint(0, 40, (3, 12))
    with torch.no_grad():
        expected = lab(ids)
        assert_close(hf(ids).logits, expected)
        assert_close(load_gpt2(hf).eval()(ids), expected)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"positions": "sinusoidal", "bias": False, "eps": 1e-12},
        {"positions": "none", "activation": "gelu_tanh", "d_ff": 20},
    ],
    ids=["bert-like", "sinusoidal-no-bias", "no-positions"],
)
def test_an_encoder_is_bert_and_back_on_a_padded_batch(options):
    lab = randomized(TransformerEncoder(TransformerConfig(**{**BERT, **options})))
    hf = bert_from_lab(lab)
    ids = torch.randint(0, 40, (3, 12))
    mask = padding_mask([12, 7, 1], 12)
    with torch.no_grad():
        expected = lab(ids, mask)
        assert_close(hf(ids, attention_mask=mask.long()).last_hidden_state, expected)
        assert_close(load_bert(hf).eval()(ids, mask), expected)


def test_an_encoder_can_leave_out_its_last_embedding_rows():
    lab = randomized(TransformerEncoder(TransformerConfig(**BERT)))
    hf = bert_from_lab(lab, vocab_rows=39)  # a MaskedLM's [MASK] row is its last
    assert hf.config.vocab_size == 39 and hf.embeddings.word_embeddings.weight.shape == (39, 16)
    ids = torch.randint(0, 39, (2, 12))
    with torch.no_grad():
        assert_close(hf(ids).last_hidden_state, lab(ids))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"norm": "post"}, "transformer norm: 'post' has no GPT-2 counterpart"),
        ({"embedding_norm": True}, "transformer embedding_norm: True has no GPT-2 counterpart"),
        ({"positions": "sinusoidal"}, "transformer positions: 'sinusoidal' has no GPT-2 counterpart"),
    ],
)
def test_what_gpt2_cannot_express_is_named(options, message):
    with pytest.raises(InputError, match=message):
        gpt2_from_lab(TransformerLM(TransformerConfig(**{**TINY, **options})))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"norm": "pre"}, "transformer norm: 'pre' has no BERT counterpart"),
        ({"embedding_norm": False}, "transformer embedding_norm: False has no BERT counterpart"),
    ],
)
def test_what_bert_cannot_express_is_named(options, message):
    with pytest.raises(InputError, match=message):
        bert_from_lab(TransformerEncoder(TransformerConfig(**{**BERT, **options})))


def test_an_untied_head_is_refused():
    with pytest.raises(InputError, match="head is not tied"):
        gpt2_from_lab(TransformerLM(TransformerConfig(**TINY), tie_embeddings=False))
