"""FrozenModulesNote: Lightning's eval-mode warning is replaced by one line for frozen parts, and kept otherwise."""

import logging
import warnings

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules.cli import ALWAYS_ON_CALLBACKS
from lightning_modules.frozen_modules import EVAL_MODE_WARNING, FrozenModulesNote, frozen_parts_in_eval_mode


class Model(L.LightningModule):
    """A frozen 'encoder' (a dropout inside it) and a trainable head; `setup_modes` sets the modes before fit."""

    def __init__(self, setup_modes):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 8))
        self.encoder.requires_grad_(False)
        self.head = nn.Sequential(nn.Linear(8, 1), nn.Dropout(0.1))
        self.setup_modes = setup_modes

    def setup(self, stage):  # before fit starts, as a frozen encoder's own train() override keeps it
        self.setup_modes(self)

    def training_step(self, batch, batch_idx):
        return self.head(self.encoder(batch[0])).square().mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.head.parameters(), lr=0.1)


def fit(setup_modes, caplog):
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[FrozenModulesNote()],
    )
    data = DataLoader(TensorDataset(torch.randn(8, 4)), batch_size=4)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        trainer.fit(Model(setup_modes), data)
        filter_left = [f for f in warnings.filters if f[1] is not None and f[1].pattern == EVAL_MODE_WARNING]
    assert filter_left == []  # the filter ends when training starts
    eval_warnings = [str(w.message) for w in caught if "in eval mode at the start of training" in str(w.message)]
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Frozen, kept in eval mode")]
    return eval_warnings, notes


def test_frozen_parts_in_eval_mode_get_one_line_and_no_warning(caplog):
    eval_warnings, notes = fit(lambda model: model.encoder.eval(), caplog)
    assert eval_warnings == []
    assert notes == ["Frozen, kept in eval mode while training (no dropout in them): encoder"]


@pytest.mark.parametrize(
    "setup_modes",
    [
        pytest.param(lambda model: model.head.eval(), id="a trainable part in eval mode"),
        pytest.param(lambda model: model.head[1].eval(), id="a dropout of the trainable part in eval mode"),
        pytest.param(lambda model: (model.encoder.eval(), model.head.eval()), id="frozen and trainable parts"),
    ],
)
def test_lightning_s_warning_stands_when_a_module_in_eval_mode_is_not_frozen(setup_modes, caplog):
    eval_warnings, notes = fit(setup_modes, caplog)
    assert len(eval_warnings) == 1 and notes == []


def test_outermost_frozen_parts_are_named_once_and_no_module_in_eval_mode_is_none_to_report():
    model = Model(lambda model: None)
    assert frozen_parts_in_eval_mode(model) == []
    model.encoder.eval()
    assert frozen_parts_in_eval_mode(model) == ["encoder"]
    model.encoder[1].train()  # a module in train mode inside a frozen part in eval mode changes nothing
    assert frozen_parts_in_eval_mode(model) == ["encoder"]
    model.encoder.train()
    model.encoder[0].eval()
    assert frozen_parts_in_eval_mode(model) == ["encoder.0"]


def test_every_cli_run_has_the_note():
    assert ALWAYS_ON_CALLBACKS["frozen_modules"] is FrozenModulesNote
