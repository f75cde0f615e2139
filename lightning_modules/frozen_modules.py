"""FrozenModulesNote: Lightning's "modules in eval mode" warning, replaced by one line when the modules are frozen.

When training starts, Lightning warns about every module in eval mode ("Found 80 module(s) in eval mode at the
start of training. This may lead to unexpected behavior…"). In this lab a frozen encoder, or the cached part of
a CachedEncoder, is kept in eval mode on purpose (no dropout on features that never change), so in those runs
the warning is noise and hides the warnings that matter. This callback says instead, in one line, which frozen
parts are in eval mode, and lets Lightning's warning through whenever a module in eval mode is not frozen: a
part with a trainable parameter, or one with no parameters at all (a dropout put in eval mode by hand), may
well be a mistake.
"""

from __future__ import annotations

import warnings

import lightning as L
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.warnings import PossibleUserWarning
from torch import nn

EVAL_MODE_WARNING = r"Found \d+ module\(s\) in eval mode at the start of training"


def frozen_parts_in_eval_mode(model: nn.Module) -> list[str] | None:
    """The names of the outermost modules in eval mode when each of them holds parameters and none that trains;
    None when some module in eval mode is not such a part (then Lightning's warning stands); [] when none is."""
    outermost = []
    for name, module in model.named_modules():
        if module.training or any(name.startswith(f"{parent}.") for parent in outermost):
            continue
        parameters = list(module.parameters())
        if not parameters or any(p.requires_grad for p in parameters):
            return None
        outermost.append(name)
    return outermost


class FrozenModulesNote(L.Callback):
    """Between fit start and train start (where Lightning checks the modules' modes), Lightning's eval-mode
    warning is filtered out when every module in eval mode is a frozen part, and one line names those parts."""

    def __init__(self) -> None:
        self._filter: warnings.catch_warnings | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        parts = frozen_parts_in_eval_mode(pl_module)
        if not parts:
            return
        shown = ", ".join(parts[:3]) + (f" and {len(parts) - 3} more" if len(parts) > 3 else "")
        rank_zero_info(f"Frozen, kept in eval mode while training (no dropout in them): {shown}")
        self._filter = warnings.catch_warnings()
        self._filter.__enter__()
        warnings.filterwarnings("ignore", message=EVAL_MODE_WARNING, category=PossibleUserWarning)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._filter is not None:
            self._filter.__exit__(None, None, None)
            self._filter = None
