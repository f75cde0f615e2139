"""A recurrent classifier: a bidirectional LSTM encoder, then a classification decoder.

Shape legend: B batch, T time, E embedding width, H encoder hidden width (per direction), L layers,
C classes. `attention_mask` (B, T) bool, True = real token, padding on the right.

    input_ids (B, T)
        │ embedding → dropout                                        (B, T, E)
        ▼
    bidirectional LSTM encoder (optional initial (h0, c0), (2L, B, H) each)
        │ outputs: both directions concatenated                      (B, T, 2H)
        │ final states, each direction's at its own end of the real tokens (2L, B, H) × 2
        ▼
    decoder "none":       [h_forward; h_backward] of the top layer   (B, 2H)
    decoder "plain":      an LSTM of width 2H starting from the encoder's final states (both directions
                          concatenated, layer by layer) reads the encoder outputs; its top hidden state at
                          the last real token                         (B, 2H)
    decoder "attention":  the same LSTM reads, at each step t, the context that one-head attention
                          (MultiHeadAttention, n_heads=1, padding keys masked) returns for the query
                          s_{t−1}, its own previous top hidden state, over the encoder outputs  (B, 2H)
        │ dropout → linear
        ▼
    logits (B, C)

Padding never changes a prediction: the LSTMs run packed (nn.LSTM) or masked (the hand-built LSTM), the
attention masks padding keys and the attentive decoder keeps its state on padded steps.
`lstm_impl`: "torch" (nn.LSTM, fast kernels) or "manual" (layers.recurrent.LSTM, the gate equations written
out); both have nn.LSTM's parameter names, so their state dicts are interchangeable.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lab_errors import InputError
from layers.attention import MultiHeadAttention
from layers.recurrent import LSTMEncoder, LSTMImpl, State, build_lstm, lstm_step, run_lstm

DecoderKind = Literal["none", "plain", "attention"]


def encoder_state_for_decoder(state: State, num_layers: int) -> State:
    """A bidirectional encoder's final (h, c), each (2L, B, H), as a unidirectional LSTM's initial state of
    width 2H: both directions of each layer side by side, each (L, B, 2H)."""

    def join(x: Tensor) -> Tensor:
        _, batch, hidden = x.shape
        by_direction = x.view(num_layers, 2, batch, hidden)  # (L, 2, B, H)
        return by_direction.permute(0, 2, 1, 3).reshape(num_layers, batch, 2 * hidden)  # (L, B, 2H)

    return join(state[0]), join(state[1])


class FinalStates(nn.Module):
    """No decoder: the encoder's top-layer final hidden states of both directions, (B, 2H)."""

    def forward(self, outputs: Tensor, state: State, mask: Tensor | None) -> Tensor:
        h_n = state[0]  # (2L, B, H): the last two rows are the top layer's forward and backward
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H)


class ReadingDecoder(nn.Module):
    """An LSTM of width 2H that starts from the encoder's final states and reads the encoder outputs; its
    top hidden state after the last real token, (B, 2H)."""

    def __init__(self, width: int, num_layers: int, lstm_impl: LSTMImpl) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.lstm = build_lstm(lstm_impl, width, width, num_layers)

    def forward(self, outputs: Tensor, state: State, mask: Tensor | None) -> Tensor:
        start = encoder_state_for_decoder(state, self.num_layers)
        _, (h_n, _) = run_lstm(self.lstm, outputs, mask, start)  # h_n (L, B, 2H)
        return h_n[-1]  # (B, 2H)


class AttentiveDecoder(nn.Module):
    """An LSTM of width 2H that starts from the encoder's final states and, at each step t, reads the
    context c_t = attention(query s_{t−1}, keys = values = encoder outputs), s_{t−1} being its own top
    hidden state; returns its top hidden state after the last real token, (B, 2H).

    The attention is the project's MultiHeadAttention with one head (its W_q projects the decoder state,
    its W_k and W_v the encoder outputs, its W_o the context). Steps run one at a time (each query waits for
    the previous state); on a padded step the state is kept, so padding changes nothing.
    """

    def __init__(self, width: int, num_layers: int, lstm_impl: LSTMImpl) -> None:
        super().__init__()
        self.num_layers, self.width = num_layers, width
        self.attention = MultiHeadAttention(width, n_heads=1)
        self.lstm = build_lstm(lstm_impl, width, width, num_layers)

    def forward(self, outputs: Tensor, state: State, mask: Tensor | None) -> Tensor:
        attn = self.attention
        w_q, w_k, w_v = attn.qkv_proj.weight.chunk(3, dim=0)  # (2H, 2H) each
        b_q, b_k, b_v = attn.qkv_proj.bias.chunk(3) if attn.qkv_proj.bias is not None else (None, None, None)
        # Keys and values do not change from step to step: projected once.
        keys = attn.split_heads(F.linear(outputs, w_k, b_k))  # (B, 1, T, 2H)
        values = attn.split_heads(F.linear(outputs, w_v, b_v))  # (B, 1, T, 2H)
        h, c = encoder_state_for_decoder(state, self.num_layers)  # (L, B, 2H) each
        # Steps after the batch's longest real sequence are all padding and would keep every state: skipped.
        steps = outputs.shape[1] if mask is None else int(mask.sum(dim=1).max())
        for t in range(steps):
            query = attn.split_heads(F.linear(h[-1].unsqueeze(1), w_q, b_q))  # (B, 1, 1, 2H)
            context, _ = attn.apply_attention(query, keys, values, mask)  # (B, 1, 1, 2H)
            step_input = attn.out_proj(attn.merge_heads(context))  # (B, 1, 2H)
            h_next, c_next = lstm_step(self.lstm, step_input.squeeze(1), (h, c))
            if mask is None:
                h, c = h_next, c_next
            else:  # a padded step leaves the state as it was
                real = mask[:, t].view(1, -1, 1)  # (1, B, 1)
                h, c = torch.where(real, h_next, h), torch.where(real, c_next, c)
        return h[-1]  # (B, 2H)


DECODERS = {"none": FinalStates, "plain": ReadingDecoder, "attention": AttentiveDecoder}


class RecurrentClassifier(nn.Module):
    """(input_ids (B, T), attention_mask (B, T) bool) → logits (B, C); see the module docstring's picture.

    A backbone for lightning_modules.classifier.TextClassifier: vocab_size, pad_id and num_classes come
    first (the data module supplies them), the rest is the architecture.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        num_classes: int,
        embed_dim: int = 256,
        hidden_size: int = 256,
        dropout: float = 0.0,
        decoder: DecoderKind = "none",
        lstm_impl: LSTMImpl = "torch",
        num_layers: int = 1,
    ) -> None:
        super().__init__()
        sizes = {
            "vocab_size": vocab_size,
            "embed_dim": embed_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
        }
        for name, value in sizes.items():
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"RecurrentClassifier {name} must be a positive integer, got {value!r}")
        if num_classes is None or num_classes < 2:
            raise InputError(f"RecurrentClassifier num_classes must be at least 2, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"RecurrentClassifier dropout must be in [0, 1), got {dropout!r}")
        if decoder not in DECODERS:
            raise InputError(f"RecurrentClassifier decoder {decoder!r} is unknown; choose one of {list(DECODERS)}")
        if lstm_impl not in ("torch", "manual"):
            raise InputError(f"RecurrentClassifier lstm_impl must be 'torch' or 'manual', got {lstm_impl!r}")
        self.encoder = LSTMEncoder(vocab_size, embed_dim, hidden_size, num_layers, dropout, pad_id, lstm_impl)
        if decoder == "none":
            self.decoder = FinalStates()
        else:  # the decoder's width is the encoder output's: both directions, 2H
            self.decoder = DECODERS[decoder](2 * hidden_size, num_layers, lstm_impl)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, state: State | None = None) -> Tensor:
        """Logits (B, C). `state`: an optional initial (h0, c0) of the encoder, each (2L, B, H)."""
        outputs, final = self.encoder(input_ids, attention_mask, state)  # (B, T, 2H), (2L, B, H) × 2
        summary = self.decoder(outputs, final, attention_mask)  # (B, 2H)
        return self.head(self.drop(summary))  # (B, C)
