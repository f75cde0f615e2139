"""An LSTM from its gate equations, a bidirectional encoder, and a decoder with optional attention.

Shape legend: B batch, T time (Ts source, Tt target), I input width, H hidden width, L layers,
N directions (1 or 2), E embedding width, V vocabulary size.

For each step t, with gates in nn.LSTM's order (i, f, g, o):
    i = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)      input gate
    f = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf)      forget gate
    g = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)   candidate cell
    o = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho)      output gate
    c_t = f ∘ c_{t−1} + i ∘ g
    h_t = o ∘ tanh(c_t)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from layers.attention import scaled_dot_product_attention
from layers.lstm_recurrence import LSTMRecurrence

LSTMImpl = Literal["manual", "torch"]
State = tuple[Tensor, Tensor]


def lstm_cell(gates: Tensor, c: Tensor) -> State:
    """The gate equations of one step: pre-activations (B, 4H) in nn.LSTM's order (input, forget, cell, output)
    and c_{t−1} (B, H) → (h_t, c_t), each (B, H)."""
    ### BEGIN SOLUTION
    ### HINT: return (h_t, c_t) (B, H) each; gates i, f, g, o: c_t = σ(f)c + σ(i)tanh(g), h_t = σ(o)tanh(c_t)
    i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next
    ### END SOLUTION


class LSTM(nn.Module):
    """A drop-in for nn.LSTM: same arguments, same parameter names and shapes, same outputs.

    forward(x, hx=None, mask=None) → (output, (h_n, c_n)), with x (B, T, I) when batch_first else
    (T, B, I), output (…, N·H), h_n and c_n (L·N, B, H). `mask` (B, T) bool, True = real step, is what
    nn.LSTM does with a packed sequence: a padded step leaves the state as it was and outputs zeros, so
    h_n is the state after each sequence's last real step (and the reverse direction starts there).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        batch_first: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if min(input_size, hidden_size, num_layers) <= 0:
            raise ValueError("input_size, hidden_size and num_layers must be positive")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout, self.bidirectional = batch_first, dropout, bidirectional
        self.num_directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                self.register_parameter(f"weight_ih_{name}", nn.Parameter(torch.empty(4 * hidden_size, layer_input)))
                self.register_parameter(f"weight_hh_{name}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size)))
                self.register_parameter(f"bias_ih_{name}", nn.Parameter(torch.empty(4 * hidden_size)))
                self.register_parameter(f"bias_hh_{name}", nn.Parameter(torch.empty(4 * hidden_size)))
        bound = 1.0 / math.sqrt(hidden_size)  # nn.LSTM's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.num_directions]

    def forward(self, x: Tensor, hx: State | None = None, mask: Tensor | None = None) -> tuple[Tensor, State]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"expected input {layout} with I = {self.input_size}, got {tuple(x.shape)}")
        x = x.transpose(0, 1) if self.batch_first else x  # (T, B, I): the loop runs over the first dim
        steps, batch = x.shape[:2]
        state_shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            zeros = x.new_zeros(state_shape)
            hx = (zeros, zeros)
        elif hx[0].shape != state_shape or hx[1].shape != state_shape:
            raise ValueError(f"initial states must be (L·N, B, H) = {state_shape}, got {tuple(hx[0].shape)}")
        step_mask = None
        if mask is not None:
            if mask.dtype != torch.bool or mask.shape != (batch, steps):
                raise ValueError(f"mask must be bool (B, T) = ({batch}, {steps}), got {mask.dtype} {tuple(mask.shape)}")
            step_mask = mask.t().unsqueeze(-1)  # (T, B, 1)

        h_n, c_n = [], []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * self.num_directions + direction
                out, h, c = self._run(
                    layer_input, hx[0][index], hx[1][index], f"l{layer}{suffix}", step_mask, direction == 1
                )
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (T, B, N·H)
            if self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        output = layer_input.transpose(0, 1) if self.batch_first else layer_input
        return output, (torch.stack(h_n), torch.stack(c_n))

    def _run(
        self, x: Tensor, h: Tensor, c: Tensor, name: str, step_mask: Tensor | None, reverse: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One layer, one direction: (T, B, I) → outputs (T, B, H), final h and c (B, H)."""
        w_ih, w_hh = getattr(self, f"weight_ih_{name}"), getattr(self, f"weight_hh_{name}")
        bias = getattr(self, f"bias_ih_{name}") + getattr(self, f"bias_hh_{name}")
        # The input's share of every gate at every step in one matmul; only h_{t−1} must wait for the loop,
        # which runs with its gradient written out (layers/lstm_recurrence.py), each step through lstm_cell.
        input_gates = torch.matmul(x, w_ih.t()) + bias  # (T, B, 4H)
        if reverse:
            input_gates = input_gates.flip(0)
            step_mask = None if step_mask is None else step_mask.flip(0)
        outputs, h, c = LSTMRecurrence.apply(input_gates, h, c, w_hh, step_mask, lstm_cell)
        return (outputs.flip(0) if reverse else outputs), h, c  # (T, B, H), (B, H), (B, H)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"batch_first={self.batch_first}, bidirectional={self.bidirectional}"
        )


def lstm_step(lstm: nn.Module, x: Tensor, state: State) -> State:
    """One time step of a unidirectional `lstm` (nn.LSTM or the hand-built LSTM: same parameter names), on its
    own weights: x (B, I), state (h, c) each (L, B, H) → the next (h, c).

    For loops that must feed each step's output back in (an attentive decoder): calling the whole module once
    per token pays its per-call set-up every step, several times the arithmetic at these sizes."""
    h, c = state
    h_next, c_next = [], []
    for layer in range(h.shape[0]):
        name = f"l{layer}"
        gates = F.linear(x, getattr(lstm, f"weight_ih_{name}"), getattr(lstm, f"bias_ih_{name}", None))
        gates = gates + F.linear(h[layer], getattr(lstm, f"weight_hh_{name}"), getattr(lstm, f"bias_hh_{name}", None))
        x, c_layer = lstm_cell(gates, c[layer])  # (B, H) each
        h_next.append(x)
        c_next.append(c_layer)
        if layer < h.shape[0] - 1 and lstm.dropout > 0:
            x = F.dropout(x, lstm.dropout, lstm.training)
    return torch.stack(h_next), torch.stack(c_next)


def build_lstm(
    impl: LSTMImpl,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    dropout: float = 0.0,
    bidirectional: bool = False,
) -> nn.Module:
    """The hand-built LSTM ("manual") or nn.LSTM ("torch", cuDNN/oneDNN kernels); same state dicts."""
    if impl not in ("manual", "torch"):
        raise ValueError(f"lstm_impl must be 'manual' or 'torch', got {impl!r}")
    cls = LSTM if impl == "manual" else nn.LSTM
    inter_layer_dropout = dropout if num_layers > 1 else 0.0  # nn.LSTM warns about dropout with one layer
    return cls(
        input_size,
        hidden_size,
        num_layers,
        batch_first=True,
        dropout=inter_layer_dropout,
        bidirectional=bidirectional,
    )


def run_lstm(lstm: nn.Module, x: Tensor, mask: Tensor | None = None, hx: State | None = None) -> tuple[Tensor, State]:
    """Run either LSTM over (B, T, E) with a (B, T) padding mask (True = real, padding on the right)."""
    if isinstance(lstm, LSTM):
        return lstm(x, hx, mask)
    if mask is None:
        return lstm(x, hx)
    lengths = mask.sum(dim=1).clamp(min=1).cpu()  # packing rejects empty sequences
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    output, state = lstm(packed, hx)
    output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
    return output, state


class LSTMEncoder(nn.Module):
    """ids (B, Ts) → outputs (B, Ts, 2H), both directions concatenated, and final states (2L, B, H).

    embedding → dropout → bidirectional LSTM. Padding (mask False) neither changes the outputs of real
    tokens nor the final states.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        pad_id: int = 0,
        lstm_impl: LSTMImpl = "manual",
    ) -> None:
        super().__init__()
        self.output_size = 2 * hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.lstm = build_lstm(lstm_impl, embed_dim, hidden_size, num_layers, dropout, bidirectional=True)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, state: State | None = None
    ) -> tuple[Tensor, State]:
        """`state`: an optional initial (h0, c0), each (2L, B, H) in nn.LSTM's order (layer-major, then
        direction); zeros when None."""
        return run_lstm(self.lstm, self.dropout(self.embedding(input_ids)), attention_mask, state)


class LSTMDecoder(nn.Module):
    """Teacher-forced decoder: target ids (B, Tt) → logits (B, Tt, V) and the final LSTM state.

    With `attention=True` each LSTM output h_t queries the encoder outputs with one-head scaled dot-product
    attention (padding keys masked), and the context c_t joins it as h̃_t = tanh(W_c [h_t; c_t]) before the
    output layer (Luong et al., 2015, without input feeding, so all steps attend at once).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        attention: bool = True,
        encoder_dim: int | None = None,
        pad_id: int = 0,
        lstm_impl: LSTMImpl = "manual",
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.lstm = build_lstm(lstm_impl, embed_dim, hidden_size, num_layers, dropout)
        self.attention = attention
        if attention:
            encoder_dim = 2 * hidden_size if encoder_dim is None else encoder_dim
            self.attn_query = nn.Linear(hidden_size, encoder_dim, bias=False)  # into the encoder's space
            self.attn_combine = nn.Linear(hidden_size + encoder_dim, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(
        self,
        input_ids: Tensor,
        state: State | None = None,
        encoder_outputs: Tensor | None = None,
        encoder_mask: Tensor | None = None,
    ) -> tuple[Tensor, State, Tensor | None]:
        """Returns logits (B, Tt, V), the state (L, B, H) × 2, and attention weights (B, Tt, Ts) or None.

        Feed one token at a time with the returned state to generate.
        """
        ### BEGIN SOLUTION
        ### HINT: return (logits (B, Tt, V), state, weights (B, Tt, Ts) or None); attn_query(h) over encoder
        h, state = run_lstm(self.lstm, self.dropout(self.embedding(input_ids)), hx=state)  # (B, Tt, H)
        weights = None
        if self.attention:
            if encoder_outputs is None:
                raise ValueError("this decoder attends: pass encoder_outputs (B, Ts, 2H) and encoder_mask")
            query = self.attn_query(h)  # (B, Tt, E)
            context, weights = scaled_dot_product_attention(query, encoder_outputs, encoder_outputs, encoder_mask)
            h = torch.tanh(self.attn_combine(torch.cat([h, context], dim=-1)))  # (B, Tt, H)
        return self.out(self.dropout(h)), state, weights
        ### END SOLUTION
