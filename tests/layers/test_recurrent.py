"""The gate-equation LSTM against nn.LSTM; the encoder and the attention decoder."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from layers.recurrent import LSTM, LSTMDecoder, LSTMEncoder
from tests.utils import assert_close, assert_grads_close, padding_mask


def make_pair(input_size, hidden_size, num_layers, bidirectional, dtype, batch_first=True):
    reference = nn.LSTM(input_size, hidden_size, num_layers, batch_first=batch_first, bidirectional=bidirectional).to(
        dtype
    )
    ours = LSTM(input_size, hidden_size, num_layers, batch_first=batch_first, bidirectional=bidirectional)
    ours = ours.to(dtype)
    ours.load_state_dict(reference.state_dict())  # strict: same names, same shapes
    return ours, reference


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_lstm_matches_nn_lstm(num_layers, bidirectional, with_state, dtype):
    ours, reference = make_pair(5, 7, num_layers, bidirectional, dtype)
    x = torch.randn(3, 6, 5, dtype=dtype, requires_grad=True)
    n = num_layers * (2 if bidirectional else 1)
    hx = None
    if with_state:
        hx = tuple(torch.randn(n, 3, 7, dtype=dtype, requires_grad=True) for _ in range(2))

    out, (h, c) = ours(x, hx)
    expected, (h_ref, c_ref) = reference(x, hx)
    for a, b in [(out, expected), (h, h_ref), (c, c_ref)]:
        assert_close(a, b)

    weights = torch.randn_like(out)  # a loss that reaches every output, h_n and c_n
    loss = (out * weights).sum() + h.square().sum() + c.sin().sum()
    ref_loss = (expected * weights).sum() + h_ref.square().sum() + c_ref.sin().sum()
    inputs = (x, *hx) if with_state else (x,)
    for a, b in zip(
        torch.autograd.grad(loss, inputs, retain_graph=True),
        torch.autograd.grad(ref_loss, inputs, retain_graph=True),
        strict=True,
    ):
        assert_close(a, b)
    loss.backward()
    ref_loss.backward()
    assert_grads_close(ours, reference, {})


def test_time_major_layout_matches_too():
    ours, reference = make_pair(4, 6, 1, False, torch.float64, batch_first=False)
    x = torch.randn(7, 2, 4, dtype=torch.float64)  # (T, B, I)
    assert_close(ours(x)[0], reference(x)[0])


def test_state_dicts_load_either_way():
    ours = LSTM(3, 4, num_layers=2, bidirectional=True)
    reference = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    reference.load_state_dict(ours.state_dict())
    assert list(ours.state_dict()) == list(reference.state_dict())
    x = torch.randn(2, 5, 3)
    assert_close(ours(x)[0], reference(x)[0])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_mask_matches_a_packed_sequence(bidirectional):
    ours, reference = make_pair(4, 5, 2, bidirectional, torch.float64)
    lengths = torch.tensor([6, 2, 4])
    mask = padding_mask(lengths, 6)
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    x = x.masked_fill(~mask[..., None], 1e3)  # garbage on the padding must not leak in

    out, (h, c) = ours(x, mask=mask)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, (h_ref, c_ref) = reference(packed)
    expected, _ = pad_packed_sequence(expected, batch_first=True, total_length=6)
    for a, b in [(out, expected), (h, h_ref), (c, c_ref)]:
        assert_close(a, b)


def test_bad_input_gets_clear_errors():
    lstm = LSTM(4, 5)
    with pytest.raises(ValueError, match="I = 4"):
        lstm(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="initial states"):
        lstm(torch.randn(2, 3, 4), (torch.zeros(1, 3, 5), torch.zeros(1, 3, 5)))
    with pytest.raises(ValueError, match="mask must be bool"):
        lstm(torch.randn(2, 3, 4), mask=torch.ones(2, 3))


@pytest.mark.parametrize("lstm_impl", ["manual", "torch"])
def test_encoder_ignores_padding(lstm_impl):
    encoder = LSTMEncoder(vocab_size=20, embed_dim=6, hidden_size=5, lstm_impl=lstm_impl).eval()
    ids = torch.randint(1, 20, (2, 4))
    mask = padding_mask([4, 3], 4)
    out, (h, _c) = encoder(ids, mask)
    assert out.shape == (2, 4, 10) and h.shape == (2, 2, 5)

    longer = torch.cat([ids, torch.randint(1, 20, (2, 3))], dim=1)  # padding tokens that are not even PAD
    longer_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    out_longer, (h_longer, _) = encoder(longer, longer_mask)
    assert_close(out_longer[:, :4], out)
    assert_close(h_longer, h)
    assert (out_longer[:, 4:] == 0).all()


def test_manual_and_torch_encoders_agree():
    manual = LSTMEncoder(30, 6, 5, num_layers=2, lstm_impl="manual").eval()
    fused = LSTMEncoder(30, 6, 5, num_layers=2, lstm_impl="torch").eval()
    fused.load_state_dict(manual.state_dict())
    ids, mask = torch.randint(1, 30, (3, 7)), padding_mask([7, 5, 1], 7)
    for a, b in zip(manual(ids, mask)[0], fused(ids, mask)[0], strict=True):
        assert_close(a, b)


@pytest.mark.parametrize("with_padding", [False, True])
def test_encoder_with_an_initial_state_matches_nn_lstm_values_and_gradients(with_padding):
    manual = LSTMEncoder(30, 6, 5, num_layers=2, lstm_impl="manual").double().eval()
    fused = LSTMEncoder(30, 6, 5, num_layers=2, lstm_impl="torch").double().eval()
    fused.load_state_dict(manual.state_dict())
    ids = torch.randint(1, 30, (3, 7))
    mask = padding_mask([7, 5, 2], 7) if with_padding else None
    h0, c0 = (torch.randn(4, 3, 5, dtype=torch.float64, requires_grad=True) for _ in range(2))  # (2L, B, H)
    out, (h, c) = manual(ids, mask, (h0, c0))
    ref, (h_ref, c_ref) = fused(ids, mask, (h0, c0))
    for a, b in [(out, ref), (h, h_ref), (c, c_ref)]:
        assert_close(a, b)
    zero_start = manual(ids, mask)[1][0]
    assert not torch.allclose(h, zero_start)  # the state is used, not ignored
    loss, ref_loss = (o.sum() + s.square().sum() + t.sin().sum() for o, s, t in [(out, h, c), (ref, h_ref, c_ref)])
    for a, b in zip(torch.autograd.grad(loss, (h0, c0)), torch.autograd.grad(ref_loss, (h0, c0)), strict=True):
        assert_close(a, b)


def test_decoder_attends_only_to_real_source_tokens():
    torch.manual_seed(0)
    decoder = LSTMDecoder(vocab_size=15, embed_dim=6, hidden_size=8, encoder_dim=10).eval()
    source = torch.randn(2, 5, 10)
    source_mask = padding_mask([5, 2], 5)
    target = torch.randint(0, 15, (2, 4))
    logits, _state, weights = decoder(target, encoder_outputs=source, encoder_mask=source_mask)
    assert logits.shape == (2, 4, 15) and weights.shape == (2, 4, 5)
    assert (weights[1, :, 2:] == 0).all()
    assert_close(weights.sum(-1), torch.ones(2, 4))

    scrambled = source.clone()
    scrambled[1, 2:] = torch.randn(3, 10)  # change only padded source positions
    logits_again, _, _ = decoder(target, encoder_outputs=scrambled, encoder_mask=source_mask)
    assert_close(logits_again, logits)


def test_decoding_one_token_at_a_time_equals_teacher_forcing():
    decoder = LSTMDecoder(vocab_size=15, embed_dim=6, hidden_size=8, num_layers=2, encoder_dim=10).eval()
    source, source_mask = torch.randn(2, 5, 10), padding_mask([5, 3], 5)
    target = torch.randint(0, 15, (2, 6))
    initial = (torch.randn(2, 2, 8), torch.randn(2, 2, 8))
    full, final_state, _ = decoder(target, initial, source, source_mask)
    state, steps = initial, []
    for t in range(6):
        step, state, _ = decoder(target[:, t : t + 1], state, source, source_mask)
        steps.append(step)
    assert_close(torch.cat(steps, dim=1), full)
    assert_close(state[0], final_state[0])


def test_decoder_without_attention_needs_no_encoder_outputs():
    decoder = LSTMDecoder(vocab_size=9, embed_dim=4, hidden_size=6, attention=False)
    logits, _, weights = decoder(torch.randint(0, 9, (3, 5)))
    assert logits.shape == (3, 5, 9) and weights is None
    with pytest.raises(ValueError, match="encoder_outputs"):
        LSTMDecoder(vocab_size=9, embed_dim=4, hidden_size=6)(torch.randint(0, 9, (3, 5)))


@pytest.mark.parametrize("padded", [False, True])
def test_the_written_out_recurrence_gradient_passes_gradcheck(padded):
    from layers.lstm_recurrence import LSTMRecurrence
    from layers.recurrent import lstm_cell

    steps, batch, hidden = 5, 3, 4
    gates = torch.randn(steps, batch, 4 * hidden, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(batch, hidden, dtype=torch.float64, requires_grad=True) for _ in range(2))
    w_hh = torch.randn(4 * hidden, hidden, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 2, 0]) if padded else torch.tensor([5, 5, 5])  # a row with no real step at all
    step_mask = (torch.arange(steps)[:, None] < lengths[None, :]).unsqueeze(-1) if padded else None

    def recurrence(gates, h0, c0, w_hh):
        return LSTMRecurrence.apply(gates, h0, c0, w_hh, step_mask, lstm_cell)

    assert torch.autograd.gradcheck(recurrence, (gates, h0, c0, w_hh))


def test_the_lstm_runs_the_module_s_own_cell_at_every_step(monkeypatch):
    import layers.recurrent as recurrent

    calls = []

    def counting_cell(gates, c):
        calls.append(gates.shape)
        return recurrent_cell(gates, c)

    recurrent_cell = recurrent.lstm_cell
    monkeypatch.setattr(recurrent, "lstm_cell", counting_cell)  # what a student's copy puts there
    LSTM(3, 4, num_layers=2, bidirectional=True)(torch.randn(2, 6, 3))
    assert len(calls) == 2 * 2 * 6 and set(calls) == {torch.Size([2, 16])}
