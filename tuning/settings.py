"""What a study is asked to do: the settings every part of tuning/ reads (the study, its trials, the report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab_errors import InputError
from tuning.search_space import SearchSpace, as_override


class StudyError(InputError):
    """A study that cannot start (bad storage, mismatched direction, missing config)."""


@dataclass
class StudySettings:
    config: Path
    space: SearchSpace
    study_name: str
    study_dir: Path
    storage: str
    output: Path
    n_trials: int
    monitor: str = "val/acc"
    direction: str = "maximize"
    timeout: float | None = None
    pruner: str = "median"
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 1
    seed: int = 0
    extra_args: list[str] = field(default_factory=list)

    def run_args(self, values: dict[str, Any], save_dir: Path | str, name: str) -> list[str]:
        """train.py arguments (without the subcommand) of a run with these sampled values."""
        mode = "max" if self.direction == "maximize" else "min"
        return [
            "--config", str(self.config), *self.extra_args,
            "--checkpoint.monitor", self.monitor, "--checkpoint.mode", mode,
            "--trainer.logger.init_args.save_dir", str(save_dir), "--trainer.logger.init_args.name", name,
            *(as_override(k, v) for k, v in values.items()),
        ]  # fmt: skip
