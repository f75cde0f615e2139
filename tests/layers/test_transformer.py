"""The encoder and causal LM stacks: properties on tiny models."""

import pytest
import torch
import torch.nn.functional as F

from layers.transformer import TransformerConfig, TransformerEncoder, TransformerLM
from tests.utils import assert_close, padding_mask


def tiny(**overrides) -> TransformerConfig:
    return TransformerConfig(
        **{
            "vocab_size": 30,
            "d_model": 32,
            "n_heads": 4,
            "n_layers": 2,
            "max_len": 32,
            "dropout": 0.0,
            **overrides,
        }
    )


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("attn_impl", ["manual", "sdpa"])
def test_causal_lm_logits_never_depend_on_later_tokens(attn_impl, norm):
    lm = TransformerLM(tiny(attn_impl=attn_impl, norm=norm)).eval()
    ids = torch.randint(0, 30, (2, 12))
    logits = lm(ids)
    assert logits.shape == (2, 12, 30)
    for t in (0, 5, 10):
        changed = ids.clone()
        changed[:, t + 1 :] = torch.randint(0, 30, changed[:, t + 1 :].shape)
        assert_close(lm(changed)[:, : t + 1], logits[:, : t + 1])


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_generation_with_kv_cache_equals_the_full_pass(positions):
    lm = TransformerLM(tiny(positions=positions)).double().eval()
    ids = torch.randint(0, 30, (3, 10))
    full = lm(ids)
    caches = lm.new_caches()
    pieces = [lm(ids[:, :6], caches=caches)] + [lm(ids[:, t : t + 1], caches=caches) for t in range(6, 10)]
    assert_close(torch.cat(pieces, dim=1), full)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_encoder_output_of_real_tokens_ignores_appended_padding(norm):
    encoder = TransformerEncoder(tiny(norm=norm)).eval()
    ids = torch.randint(1, 30, (3, 6))
    mask = padding_mask([6, 4, 1], 6)
    hidden = encoder(ids, mask)
    longer = torch.cat([ids, torch.randint(1, 30, (3, 5))], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], dim=1)
    assert_close(encoder(longer, longer_mask)[:, :6][mask], hidden[mask])


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "none"])
def test_permuting_tokens_permutes_the_output_only_without_positions(positions):
    encoder = TransformerEncoder(tiny(positions=positions)).eval()
    with torch.no_grad():  # a trained-looking position table, not the 0.02 initialisation
        if positions == "learned":
            encoder.pos.embedding.weight.normal_()
    ids = torch.randint(1, 30, (2, 7))
    order = torch.randperm(7)
    hidden, permuted = encoder(ids), encoder(ids[:, order])
    if positions == "none":
        assert_close(permuted, hidden[:, order])
    else:
        assert not torch.allclose(permuted, hidden[:, order], atol=1e-3)


def test_a_tiny_lm_overfits_one_batch():
    lm = TransformerLM(tiny(n_layers=1))
    ids = torch.randint(0, 30, (4, 16))
    optimizer = torch.optim.AdamW(lm.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        logits = lm(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 30), ids[:, 1:].reshape(-1))
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first == pytest.approx(torch.log(torch.tensor(30.0)).item(), abs=0.3)  # starts at chance
    assert loss.item() < 0.05


def test_encoder_returns_every_blocks_weights_and_checks_its_input():
    encoder = TransformerEncoder(tiny(n_layers=3))
    ids = torch.randint(0, 30, (2, 5))
    hidden, weights = encoder(ids, return_weights=True)
    assert hidden.shape == (2, 5, 32) and len(weights) == 3 and weights[0].shape == (2, 4, 5, 5)
    with pytest.raises(ValueError, match="LongTensor"):
        encoder(ids.float())
    with pytest.raises(ValueError, match="one per block"):
        encoder(ids, caches=encoder.new_caches()[:1])


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="divisible"):
        tiny(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="n_layers must be a positive integer"):
        tiny(n_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        tiny(dropout=1.5)
    with pytest.raises(ValueError, match="ff_dropout must be in"):
        tiny(ff_dropout=-0.1)


def test_feed_forward_dropout_follows_dropout_unless_set():
    default = TransformerEncoder(tiny(dropout=0.3))
    assert [b.ff.dropout.p for b in default.blocks] == [0.3] * len(default.blocks)  # nn.TransformerEncoderLayer's
    bert_like = TransformerEncoder(tiny(dropout=0.3, ff_dropout=0.0))
    assert [b.ff.dropout.p for b in bert_like.blocks] == [0.0] * len(bert_like.blocks)
    assert [b.dropout.p for b in bert_like.blocks] == [0.3] * len(bert_like.blocks)


def test_lm_head_is_tied_to_the_token_embedding():
    lm = TransformerLM(tiny())
    assert lm.lm_head.weight is lm.transformer.tok_emb.weight
    untied = TransformerLM(tiny(), tie_embeddings=False)
    assert untied.lm_head.weight is not untied.transformer.tok_emb.weight


def test_bias_free_stack_has_only_weights_and_nanogpts_parameter_count():
    d, layers, vocab, max_len = 32, 2, 30, 32
    lm = TransformerLM(tiny(bias=False, norm="pre"))
    assert not [name for name, _ in lm.named_parameters() if name.endswith("bias")]
    # nanoGPT's GPT with bias=False: tied embedding, positions, per block 12·D² of matrices and two norm gains,
    # and the final norm's gain.
    expected = vocab * d + max_len * d + layers * (12 * d * d + 2 * d) + d
    assert sum(p.numel() for p in lm.parameters()) == expected
    ids = torch.randint(vocab, (2, max_len))
    F.cross_entropy(lm(ids).flatten(0, 1), ids.flatten()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in lm.parameters())
    with_biases = TransformerLM(tiny(norm="pre"))
    assert sum(p.numel() for p in with_biases.parameters()) == expected + layers * (9 * d + 2 * d) + d
