"""Optimiser parameter groups and the warm-up-then-decay learning-rate schedule shared by every task."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from lab_errors import InputError

Decay = Literal["constant", "linear", "cosine"]


def parameter_groups(module: nn.Module) -> list[dict]:
    """Weight decay for matrices (linear and embedding weights) only, not for biases and norm gains.

    Decaying a LayerNorm gain or a bias towards 0 regularises nothing useful (nanoGPT's rule).
    """
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2]},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def warmup_decay(
    warmup_steps: int, total_steps: int, decay: Decay = "constant", min_ratio: float = 0.0
) -> Callable[[int], float]:
    """LR multiplier at step s: linear warm-up from 0 over `warmup_steps`, then constant, linear or cosine
    decay to `min_ratio` at `total_steps`."""
    if warmup_steps < 0:
        raise InputError(f"warmup_steps must be ≥ 0, got {warmup_steps}")
    if decay not in ("constant", "linear", "cosine"):
        raise ValueError(f"unknown decay {decay!r}; choose constant, linear or cosine")

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if decay == "constant" or total_steps <= warmup_steps:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        shape = 1.0 - progress if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return min_ratio + (1.0 - min_ratio) * shape

    return multiplier


def configure(optimizer: Optimizer, warmup_steps: int, total_steps: int, decay: Decay, min_ratio: float = 0.0) -> dict:
    """What LightningModule.configure_optimizers returns: the optimiser and a per-step schedule."""
    if not 0.0 <= min_ratio <= 1.0:
        raise InputError(f"lr_min_ratio must be in [0, 1], got {min_ratio}")
    scheduler = LambdaLR(optimizer, warmup_decay(warmup_steps, total_steps, decay, min_ratio))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class WarmupDecayOptimization:
    """configure_optimizers for a LightningModule with an injected `optimizer` (a callable taking parameter
    groups) and `warmup_steps` and `lr_decay` hyperparameters, and optionally `lr_min_ratio` (where the decay
    ends, as a fraction of the peak rate; 0 by default); the schedule spans the whole run."""

    def configure_optimizers(self) -> dict:
        optimizer = self.optimizer(parameter_groups(self))
        total = int(self.trainer.estimated_stepping_batches)
        min_ratio = self.hparams.get("lr_min_ratio", 0.0)
        return configure(optimizer, self.hparams.warmup_steps, total, self.hparams.lr_decay, min_ratio)
