"""Helpers shared by the tests."""

from __future__ import annotations

import os
import signal

import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

# float32 sums over a few hundred terms differ from a reference kernel in the last digits; float64 must not.
TOLERANCES = {torch.float32: {"rtol": 1e-4, "atol": 1e-5}, torch.float64: {"rtol": 1e-9, "atol": 1e-10}}


def padding_mask(lengths: list[int] | Tensor, max_len: int) -> Tensor:
    """(B, T) bool, True on the first `length` positions of each row (right padding)."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(max_len)[None, :] < lengths[:, None]


def random_padding_mask(batch: int, max_len: int) -> Tensor:
    """Right padding with at least one real token per row and at least one full row."""
    lengths = torch.randint(1, max_len + 1, (batch,))
    lengths[0] = max_len
    return padding_mask(lengths, max_len)


def assert_close(actual: Tensor, expected: Tensor, **kwargs) -> None:
    torch.testing.assert_close(actual, expected, **{**TOLERANCES.get(expected.dtype, {}), **kwargs})


def assert_grads_close(ours: nn.Module, reference: nn.Module, names: dict[str, str]) -> None:
    """Each of our parameters' gradient equals the reference's: names maps ours → reference."""
    ref_params = dict(reference.named_parameters())
    for our_name, our_param in ours.named_parameters():
        ref_grad = ref_params[names.get(our_name, our_name)].grad
        assert our_param.grad is not None, f"{our_name} got no gradient"
        assert_close(our_param.grad, ref_grad, msg=lambda m, n=our_name: f"gradient of {n}: {m}")


def assert_same_backward(
    out: Tensor, expected: Tensor, x: Tensor, ours: nn.Module, reference: nn.Module, names: dict[str, str]
) -> None:
    """Outputs, input gradients and parameter gradients agree, for one random upstream gradient."""
    assert_close(out, expected)
    upstream = torch.randn_like(out)
    (grad_ours,) = torch.autograd.grad(out, x, upstream, retain_graph=True)
    (grad_ref,) = torch.autograd.grad(expected, x, upstream, retain_graph=True)
    assert_close(grad_ours, grad_ref)
    out.backward(upstream)
    expected.backward(upstream)
    assert_grads_close(ours, reference, names)


def mha_names(prefix_ours: str = "", prefix_ref: str = "") -> dict[str, str]:
    """Our MultiHeadAttention's parameter names → nn.MultiheadAttention's."""
    pairs = {
        "qkv_proj.weight": "in_proj_weight",
        "qkv_proj.bias": "in_proj_bias",
        "out_proj.weight": "out_proj.weight",
        "out_proj.bias": "out_proj.bias",
    }
    return {prefix_ours + a: prefix_ref + b for a, b in pairs.items()}


def copy_parameters(ours: nn.Module, reference: nn.Module, names: dict[str, str]) -> None:
    """Load the reference's values into our parameters (names maps ours → reference)."""
    ref_params = dict(reference.named_parameters())
    with torch.no_grad():
        for our_name, our_param in ours.named_parameters():
            our_param.copy_(ref_params[names.get(our_name, our_name)])


class StopAfterEpoch(Callback):
    """Stops training after `epochs` epochs as an interruption would, leaving max_epochs (and so the LR
    schedule) as configured."""

    def __init__(self, epochs: int = 1) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


class RecordMetric(Callback):
    """Keeps the value of one logged metric at the end of every validation (sanity check excluded)."""

    def __init__(self, name: str) -> None:
        self.name, self.values = name, []

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and self.name in trainer.callback_metrics:
            self.values.append(float(trainer.callback_metrics[self.name]))


class RaiseInCallback(Callback):
    """A bug in a callback: raises `kind` (TypeError, KeyError, …) when training starts."""

    def __init__(self, kind: str = "TypeError") -> None:
        self.kind = kind

    def on_train_start(self, trainer, pl_module) -> None:
        if self.kind == "TypeError":
            self.count = None
            self.count += 1  # the bug: unsupported operand type(s) for +=: 'NoneType' and 'int'
        raise {"KeyError": KeyError, "ValueError": ValueError}[self.kind]("missing")


class SigtermAtStep(Callback):
    """Sends this process SIGTERM after training step `step`, as `kill`, `timeout` or a scheduler would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def optional_module(name: str):
    """Import an optional package (extras/*.txt): skipped where it is not installed, except under CI, which
    installs every extra, so that a missing package there is a failure rather than a silent skip."""
    import importlib

    import pytest

    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f"optional package {name} not installed (pip install -r extras/…)")
