"""ProgressLog: a run whose output is not a terminal logs its progress as lines, with the values the run had."""

import logging
import re
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules import progress_log
from lightning_modules.cli import ALWAYS_ON_CALLBACKS
from lightning_modules.progress_log import ProgressLog

TRAIN_BATCHES, VAL_BATCHES, TEST_BATCHES = 4, 2, 3
TRAIN_SECONDS, VAL_SECONDS, TEST_SECONDS = 2.0, 10.0, 1.0  # what the fake clock advances per batch of each


class Regression(L.LightningModule):
    """A linear regression on fixed random data that logs a training loss and two validation metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)
        generator = torch.Generator().manual_seed(0)
        self.data = TensorDataset(torch.randn(32, 3, generator=generator), torch.randn(32, 1, generator=generator))

    def loss(self, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(self.linear(x), y)

    def training_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self.loss(batch)
        self.log("val/loss", loss)
        self.log("val/acc", 1 / (1 + loss))

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.log("test/loss", self.loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(self.data, batch_size=8)

    val_dataloader = test_dataloader = train_dataloader


class FakeClock(Callback):
    """Stands in for ProgressLog's clock: each training batch takes TRAIN_SECONDS, each validation batch
    VAL_SECONDS, each test batch TEST_SECONDS. Listed before ProgressLog, so a batch has ended on the clock when
    ProgressLog reads it. It also keeps the validation metrics of each pass (not the sanity check) as the trainer
    had them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.validations: list[dict[str, float]] = []

    def perf_counter(self) -> float:
        return self.now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.now += TRAIN_SECONDS

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.now += VAL_SECONDS

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.now += TEST_SECONDS

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.validations.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val")})


@pytest.fixture
def lines():
    """The messages Lightning's rank-zero logger receives, where ProgressLog writes."""
    received: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: received.append(record.getMessage())
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    logger.addHandler(handler)
    yield received
    logger.removeHandler(handler)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progress_log, "time", SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


def trainer(*callbacks: Callback, **overrides) -> L.Trainer:
    settings = dict(
        max_epochs=2,
        limit_train_batches=TRAIN_BATCHES,
        limit_val_batches=VAL_BATCHES,
        limit_test_batches=TEST_BATCHES,
        val_check_interval=2,
        num_sanity_val_steps=2,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        logger=False,
    )
    return L.Trainer(callbacks=list(callbacks), **settings | overrides)


def progress_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if re.match(r"(epoch|validation|test|predict|validate) ", line)]


def test_training_lines_give_the_position_the_pace_without_validation_and_the_epoch_s_remaining_time(lines, clock):
    trainer(clock, ProgressLog(every_n_seconds=0, when="always")).fit(Regression())
    training = [line for line in lines if line.startswith("epoch ")]
    assert len(training) == 2 * TRAIN_BATCHES  # every batch, with every_n_seconds 0
    for epoch in (1, 2):
        for batch in range(1, TRAIN_BATCHES + 1):
            line = training[(epoch - 1) * TRAIN_BATCHES + batch - 1]
            step = (epoch - 1) * TRAIN_BATCHES + batch
            left = int((TRAIN_BATCHES - batch) * TRAIN_SECONDS)
            # 2.00 s/batch although a validation pass of 20 s sits between batches 2 and 3
            assert line.startswith(
                f"epoch {epoch}/2 · batch {batch}/{TRAIN_BATCHES} · step {step} · 2.00 s/batch · "
                f"epoch done in 0:00:{left:02d}"
            ), line
    # the bar's metrics as the bar has them at a batch's end: the previous step's loss (none at the first)
    assert all(re.fullmatch(r".* · train/loss \d+\.\d{4}", line) for line in training[1:]), training


def test_one_line_per_validation_pass_with_the_metrics_the_trainer_had_and_none_for_the_sanity_check(lines, clock):
    trainer(clock, ProgressLog(every_n_seconds=0, when="always")).fit(Regression())
    validations = [line for line in lines if line.startswith("validation")]
    assert len(clock.validations) == 4  # two an epoch; the sanity check is not among them
    expected = [
        f"validation at step {step} (epoch {epoch}/2): val/acc {metrics['val/acc']:.4f} · "
        f"val/loss {metrics['val/loss']:.4f} · {VAL_BATCHES * VAL_SECONDS:.0f} s"
        for (step, epoch), metrics in zip([(2, 1), (4, 1), (6, 2), (8, 2)], clock.validations, strict=True)
    ]
    assert validations == expected


def test_lines_come_no_more_often_than_every_n_seconds_and_the_epoch_s_last_batch_always_has_one(lines, clock):
    # 2 s a batch, lines at least 5 s apart: none at batches 1 and 2 (2 and 4 s), one at batch 3 (6 s), and one
    # at batch 4, 2 s later, as the epoch's last
    progress = ProgressLog(every_n_seconds=5, when="always")
    trainer(clock, progress, max_epochs=1, val_check_interval=1.0).fit(Regression())
    training = [line for line in lines if line.startswith("epoch ")]
    assert [re.search(r"batch (\d+)/", line).group(1) for line in training] == ["3", "4"]


def test_test_runs_log_their_batches_and_their_time(lines, clock):
    model = Regression()
    trainer(clock, ProgressLog(every_n_seconds=0, when="always")).test(model)
    assert progress_lines(lines) == [
        "test · batch 1/3 · 1.00 s/batch · done in 0:00:02",
        "test · batch 2/3 · 1.00 s/batch · done in 0:00:01",
        "test · batch 3/3 · 1.00 s/batch · done in 0:00:00",
        "test done in 0:00:03",
    ]


def test_a_validate_run_logs_its_batches_and_its_time(lines, clock):
    trainer(clock, ProgressLog(every_n_seconds=0, when="always")).validate(Regression())
    assert progress_lines(lines) == [
        "validate · batch 1/2 · 10.00 s/batch · done in 0:00:10",
        "validate · batch 2/2 · 10.00 s/batch · done in 0:00:00",
        "validate done in 0:00:20",
    ]


def test_with_two_test_loaders_each_is_counted_from_its_own_first_batch(lines, clock):
    model = Regression()
    model.test_dataloader = lambda: [DataLoader(model.data, batch_size=8), DataLoader(model.data, batch_size=8)]
    trainer(clock, ProgressLog(every_n_seconds=0, when="always"), limit_test_batches=2).test(model)
    assert progress_lines(lines) == [
        "test · loader 0 · batch 1/2 · 1.00 s/batch · done in 0:00:01",
        "test · loader 0 · batch 2/2 · 1.00 s/batch · done in 0:00:00",
        "test · loader 1 · batch 1/2 · 1.00 s/batch · done in 0:00:01",
        "test · loader 1 · batch 2/2 · 1.00 s/batch · done in 0:00:00",
        "test done in 0:00:04",
    ]


@pytest.mark.parametrize(
    ("when", "live", "bar", "shown"),
    [
        ("auto", True, True, False),  # a terminal: the bar draws
        ("auto", False, True, True),  # a file: the lines stand in for the bar
        ("auto", False, False, False),  # enable_progress_bar false: quiet
        ("always", True, False, True),
        ("never", False, True, False),
    ],
)
def test_auto_writes_lines_only_in_place_of_a_bar_that_cannot_draw(lines, clock, monkeypatch, when, live, bar, shown):
    monkeypatch.setattr(progress_log, "output_is_shown_live", lambda: live)
    progress = ProgressLog(every_n_seconds=0, when=when)
    trainer(clock, progress, max_epochs=1, enable_progress_bar=bar).fit(Regression())
    assert bool(progress_lines(lines)) is shown


def test_every_cli_run_has_it_under_its_own_key_and_bad_settings_are_refused():
    assert ALWAYS_ON_CALLBACKS["progress_log"] is ProgressLog
    with pytest.raises(ValueError, match="every_n_seconds"):
        ProgressLog(every_n_seconds=-1)
    with pytest.raises(ValueError, match="when must be auto, always or never"):
        ProgressLog(when="sometimes")
