"""Figures and texts into whatever loggers a run has, each in the form that logger shows them.

- TensorBoardLogger: `add_figure` / `add_text` (the Images and Text tabs);
- WandbLogger: `log_image` (a `wandb.Image`) / `log_text` (a `wandb.Table` of step and text);
- MLFlowLogger: `log_figure` / `log_text` as run artifacts, `<tag>/step_NNNNNN.png` and `.txt`;
- CSVLogger, which stores only numbers: the same files, written into its run folder under `media/`
  (`<run>/media/val/attention/step_000040.png`, `<run>/media/samples/step_000040.txt`);
- any other logger: nothing (its metrics are logged as usual).

The models call these once per figure or text (lightning_modules/classifier.py, causal_lm.py), never a logger's
own API, so a logger a user picks shows what TensorBoard shows.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from lightning.pytorch.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure

MEDIA_DIR = "media"  # a CSVLogger run's figures and texts: <run>/media/<tag>/step_NNNNNN.{png,txt}


def takes_media(loggers: list[Logger]) -> bool:
    """Whether any of `loggers` keeps figures or texts (so a model can skip drawing one nobody keeps)."""
    return any(isinstance(lg, TensorBoardLogger | WandbLogger | MLFlowLogger | CSVLogger) for lg in loggers)


def _step_file(tag: str, step: int, suffix: str) -> str:
    return f"{tag}/step_{step:06d}{suffix}"


def _csv_media_path(logger: CSVLogger, tag: str, step: int, suffix: str) -> Path:
    path = Path(logger.log_dir) / MEDIA_DIR / _step_file(tag, step, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@rank_zero_only  # as loggers log: a CSV run's files are written once, not by every process
def log_figure(loggers: list[Logger], tag: str, figure: Figure, step: int) -> None:
    """`figure` under `tag` at `step` in every logger of `loggers` that keeps images; the figure is closed."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, figure, step, close=False)
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=tag, images=[figure], step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_figure(logger.run_id, figure, _step_file(tag, step, ".png"))
        elif isinstance(logger, CSVLogger):
            figure.savefig(_csv_media_path(logger, tag, step, ".png"))
    plt.close(figure)  # pyplot keeps every open figure alive otherwise


@rank_zero_only
def log_text(loggers: list[Logger], tag: str, text: str, step: int) -> None:
    """`text` under `tag` at `step` in every logger of `loggers` that keeps texts."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_text(tag, text, step)
        elif isinstance(logger, WandbLogger):
            logger.log_text(key=tag, columns=["step", "text"], data=[[step, text]], step=step)
        elif isinstance(logger, MLFlowLogger):
            logger.experiment.log_text(logger.run_id, text, _step_file(tag, step, ".txt"))
        elif isinstance(logger, CSVLogger):
            _csv_media_path(logger, tag, step, ".txt").write_text(text + "\n")
