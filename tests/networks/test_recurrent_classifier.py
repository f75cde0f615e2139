"""RecurrentClassifier: padding never changes a prediction, every parameter learns, either LSTM gives the
same logits, and bad settings end in one line."""

import pytest
import torch
from torch.testing import assert_close

from lab_errors import InputError
from networks.recurrent_classifier import RecurrentClassifier

DECODERS = ["none", "plain", "attention"]
VOCAB = 30


def make(decoder: str, lstm_impl: str = "torch", **kwargs) -> RecurrentClassifier:
    settings = {"embed_dim": 8, "hidden_size": 6, "num_layers": 2, **kwargs}
    return RecurrentClassifier(VOCAB, 0, 3, decoder=decoder, lstm_impl=lstm_impl, **settings).double().eval()


def padded_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Three sequences of lengths 5, 2 and 4, padded with id 0 on the right."""
    lengths = torch.tensor([5, 2, 4])
    mask = torch.arange(5) < lengths.unsqueeze(1)  # (B, T)
    ids = torch.randint(1, VOCAB, (3, 5)).masked_fill(~mask, 0)
    return ids, mask


def pad_more(ids: torch.Tensor, mask: torch.Tensor, extra: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.cat([ids, ids.new_zeros(ids.shape[0], extra)], dim=1),
        torch.cat([mask, mask.new_zeros(mask.shape[0], extra)], dim=1),
    )


@pytest.mark.parametrize("lstm_impl", ["torch", "manual"])
@pytest.mark.parametrize("decoder", DECODERS)
def test_appending_padding_leaves_the_logits_equal(decoder, lstm_impl):
    model = make(decoder, lstm_impl)
    ids, mask = padded_batch()
    logits = model(ids, mask)
    longer = model(*pad_more(ids, mask, 4))
    assert_close(longer, logits, atol=1e-6, rtol=0)
    # Each sequence alone, without any padding, gets the same logits as inside the padded batch.
    for i, n in enumerate(mask.sum(1).tolist()):
        alone = model(ids[i : i + 1, :n], mask[i : i + 1, :n])
        assert_close(alone[0], logits[i], atol=1e-6, rtol=0)


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_padding_token_itself_is_never_read(decoder):
    model = make(decoder)
    ids, mask = padded_batch()
    other = ids.masked_fill(~mask, 7)  # different ids on the padded steps
    assert_close(model(other, mask), model(ids, mask), atol=1e-6, rtol=0)


@pytest.mark.parametrize("decoder", DECODERS)
def test_gradients_reach_every_parameter(decoder):
    model = make(decoder, dropout=0.3).train()
    ids, mask = padded_batch()
    model(ids, mask).logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_hand_built_lstm_gives_nn_lstms_logits_with_the_same_weights(decoder):
    fast, hand_built = make(decoder, "torch"), make(decoder, "manual")
    assert fast.state_dict().keys() == hand_built.state_dict().keys()  # nn.LSTM's parameter names
    hand_built.load_state_dict(fast.state_dict())
    ids, mask = padded_batch()
    assert_close(hand_built(ids, mask), fast(ids, mask))
    state = tuple(torch.randn(4, 3, 6, dtype=torch.float64) for _ in range(2))  # an initial (h0, c0): (2L, B, H)
    assert_close(hand_built(ids, mask, state), fast(ids, mask, state))
    assert not torch.allclose(fast(ids, mask, state), fast(ids, mask))  # and the state is used


def test_the_attentive_decoder_reads_through_attention():
    """Zeroing the attention's value projection leaves the decoder only its bias to read: logits change."""
    model = make("attention")
    ids, mask = padded_batch()
    before = model(ids, mask)
    with torch.no_grad():
        model.decoder.attention.qkv_proj.weight[-12:].zero_()  # W_v: the last 2H rows
    assert not torch.allclose(model(ids, mask), before)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"decoder": "transformer"}, "decoder 'transformer' is unknown"),
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
        ({"embed_dim": -1}, "embed_dim must be a positive integer, got -1"),
        ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
        ({"lstm_impl": "cudnn"}, "lstm_impl must be 'torch' or 'manual', got 'cudnn'"),
    ],
)
def test_bad_settings_end_in_one_line(settings, expected):
    with pytest.raises(InputError) as info:
        RecurrentClassifier(VOCAB, 0, 2, **settings)
    assert expected in str(info.value) and "\n" not in str(info.value)
