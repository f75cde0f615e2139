"""A resumed CSVLogger run keeps the metrics its folder already holds.

Lightning's CSV writer deletes the metrics.csv of a folder it opens that is not empty ("Previous log files in
this directory will be deleted"), so `--ckpt_path last`, which continues the run in its own folder, would leave
only the metrics logged after the resumption. Before the writer opens the folder, its rows are read, and then
logged again through the writer's public `log_metrics`, so the first save writes them back ahead of the new ones.
"""

from __future__ import annotations

import csv
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, Logger


def keep_earlier_metrics(logger: Logger | None) -> int:
    """Re-logs the rows of `logger`'s existing metrics.csv (a CSVLogger's, else nothing); how many rows."""
    if not isinstance(logger, CSVLogger):
        return 0
    path = Path(logger.log_dir) / "metrics.csv"  # log_dir does not open the writer; `experiment` does
    if not path.is_file():
        return 0
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    writer = logger.experiment  # deletes the file
    for row in rows:
        values = {key: float(value) for key, value in row.items() if key != "step" and value not in ("", None)}
        step = int(float(row["step"])) if row.get("step") else None
        writer.log_metrics(values, step)
    return len(rows)
