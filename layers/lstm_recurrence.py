"""The LSTM's recurrence over time with its gradient written out: one layer, one direction.

Autograd through a step-by-step loop records a dozen nodes per step (the matmul, the gate split, three
sigmoids, two tanh, the products) and replays them one by one backwards: at T = 256 that bookkeeping, not the
arithmetic, is most of the time. Here the forward runs the loop without recording anything, keeping only the
gates' pre-activations, and the backward is the loop of the LSTM's derivative equations, with everything that
does not depend on the step before (the gates' activations and their derivatives for all steps) computed at
once beforehand, and the recurrent weight's gradient as one matrix product at the end.

Shape legend: T steps, B batch, H hidden width; gates in nn.LSTM's order (input, forget, cell, output).
Step equations (the forward is `layers.recurrent.lstm_cell`, so a student's cell is what runs):
    i, f, o = σ(·), g = tanh(·) of the pre-activations a_t = x-part_t + W_hh h_{t−1}
    c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
A padded step (mask False) keeps h and c as they were and outputs zeros, like a packed sequence.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx, once_differentiable


class LSTMRecurrence(torch.autograd.Function):
    """(input_gates (T, B, 4H), h0 (B, H), c0 (B, H), w_hh (4H, H), step_mask (T, B, 1) bool or None, cell) →
    (outputs (T, B, H), h_T (B, H), c_T (B, H)), steps in order t = 0 … T−1 (reverse by flipping the inputs)."""

    @staticmethod
    def forward(ctx: FunctionCtx, input_gates, h0, c0, w_hh, step_mask, cell):
        steps = input_gates.shape[0]
        w_hh_t = w_hh.t()
        pre_activations = torch.empty_like(input_gates)  # (T, B, 4H)
        h_before = input_gates.new_empty((steps, *h0.shape))  # h_{t−1} of each step, for W_hh's gradient
        c_before = input_gates.new_empty((steps, *c0.shape))
        outputs = input_gates.new_empty((steps, *h0.shape))
        h, c = h0, c0
        for t in range(steps):
            h_before[t], c_before[t] = h, c
            gates = torch.addmm(input_gates[t], h, w_hh_t, out=pre_activations[t])  # (B, 4H)
            h_next, c_next = cell(gates, c)
            if step_mask is None:
                h, c = h_next, c_next
                outputs[t] = h
            else:
                real = step_mask[t]  # (B, 1)
                h, c = torch.where(real, h_next, h), torch.where(real, c_next, c)
                torch.mul(h_next, real, out=outputs[t])
        ctx.save_for_backward(pre_activations, h_before, c_before, w_hh, step_mask)
        return outputs, h, c

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_outputs, grad_h, grad_c):
        pre_activations, h_before, c_before, w_hh, step_mask = ctx.saved_tensors
        i, f, g, o = pre_activations.chunk(4, dim=-1)  # (T, B, H) each
        i, f, o, g = i.sigmoid(), f.sigmoid(), o.sigmoid(), g.tanh()
        c_after = f * c_before + i * g
        tanh_c = c_after.tanh()
        # ∂a/∂c_t and ∂a/∂h_t for every step at once: the gate derivatives times what multiplies each gate.
        from_c = torch.stack([g * i * (1 - i), c_before * f * (1 - f), i * (1 - g * g)], dim=2)  # (T, B, 3, H)
        from_h = tanh_c * o * (1 - o)  # (T, B, H)
        h_to_c = o * (1 - tanh_c * tanh_c)  # ∂h_t/∂c_t
        grad_pre = torch.empty_like(pre_activations)  # (T, B, 4H)
        hidden = h_before.shape[-1]
        dh = torch.zeros_like(h_before[0]) if grad_h is None else grad_h  # ∂L/∂h after the last step
        dc = torch.zeros_like(c_before[0]) if grad_c is None else grad_c
        grad_outputs = torch.zeros_like(h_before) if grad_outputs is None else grad_outputs
        for t in reversed(range(pre_activations.shape[0])):
            if step_mask is None:
                dh_cell = dh + grad_outputs[t]
                dc_cell = dc + dh_cell * h_to_c[t]
            else:
                real = step_mask[t]  # padded rows: the cell's outputs reach nothing
                dh_cell = (dh + grad_outputs[t]) * real
                dc_cell = dc * real + dh_cell * h_to_c[t]
            step = grad_pre[t]  # (B, 4H) = (B, 4, H): the gates i, f, g from c_t, o from h_t
            torch.mul(dc_cell.unsqueeze(1), from_c[t], out=step.view(-1, 4, hidden)[:, :3])
            torch.mul(dh_cell, from_h[t], out=step[:, 3 * hidden :])
            dh_next = step @ w_hh  # (B, H)
            dc_next = dc_cell * f[t]
            if step_mask is not None:  # a padded step passed h and c through unchanged
                dh_next = dh_next + dh * ~real
                dc_next = dc_next + dc * ~real
            dh, dc = dh_next, dc_next
        steps, batch = h_before.shape[:2]
        grad_w_hh = grad_pre.reshape(steps * batch, -1).t() @ h_before.reshape(steps * batch, -1)  # (4H, H)
        return grad_pre, dh, dc, grad_w_hh, None, None
