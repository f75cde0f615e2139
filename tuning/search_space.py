"""A hyperparameter search space as data: LightningCLI keys mapped to Optuna distributions.

model.init_args.optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
data.init_args.batch_size: {type: categorical, choices: [16, 32, 64]}
model.init_args.n_layers: {type: int, low: 1, high: 3}
model.init_args.pool: [mean, max, first]          # a plain list is categorical
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from lab_errors import InputError


class SearchSpaceError(InputError):
    """A search space that cannot be used; raised before any training starts."""


@dataclass(frozen=True)
class Parameter:
    key: str
    kind: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    @classmethod
    def parse(cls, key: str, spec: Any, source: str) -> Parameter:
        where = f"{source}: {key}"
        if isinstance(spec, list):
            spec = {"type": "categorical", "choices": spec}
        if not isinstance(spec, dict) or "type" not in spec:
            raise SearchSpaceError(f"{where}: expected {{type: float|int|categorical, ...}} or a list")
        kind, known = spec["type"], {"type", "low", "high", "log", "step", "choices"}
        if unknown := set(spec) - known:
            raise SearchSpaceError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise SearchSpaceError(f"{where}: categorical needs a non-empty list of choices")
            return cls(key, kind, choices=tuple(choices))
        if kind not in ("float", "int"):
            raise SearchSpaceError(f"{where}: type must be float, int or categorical, not {kind!r}")
        cast = float if kind == "float" else int
        try:
            low, high = cast(spec["low"]), cast(spec["high"])
            step = None if spec.get("step") is None else cast(spec["step"])
        except (KeyError, TypeError, ValueError) as err:
            raise SearchSpaceError(f"{where}: {kind} needs numeric low and high ({err})") from err
        log = bool(spec.get("log", False))
        if low > high or (log and low <= 0) or (log and step is not None):
            raise SearchSpaceError(f"{where}: need low ≤ high, low > 0 on a log scale, and no step with log")
        return cls(key, kind, low, high, log, step)

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def size(self) -> int | None:
        """How many values the parameter can take: None for a continuous float."""
        if self.kind == "categorical":
            return len(self.choices)
        if self.kind == "float" and self.step is None:
            return None
        return int((self.high - self.low) // (self.step or 1)) + 1

    def probe_values(self) -> list:
        """The values a config must accept for this parameter: every choice, or both bounds."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class SearchSpace:
    parameters: tuple[Parameter, ...]
    source: str = "<search space>"

    @classmethod
    def load(cls, path: Path) -> SearchSpace:
        if not path.is_file():
            raise SearchSpaceError(f"search space {path} does not exist (pass one with --search-space)")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise SearchSpaceError(f"search space {path} is not valid YAML: {err}") from err
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<search space>") -> SearchSpace:
        if not data:
            raise SearchSpaceError(f"search space {source} is empty: name at least one key to search")
        if not isinstance(data, dict):
            raise SearchSpaceError(f"search space {source} must map config keys to distributions")
        return cls(tuple(Parameter.parse(str(k), v, source) for k, v in data.items()), source)

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.parameters]

    def without(self, keys: set[str]) -> SearchSpace:
        """The space less the given keys (those the user fixed); an emptied space is an error."""
        kept = tuple(p for p in self.parameters if p.key not in keys)
        if not kept:
            raise SearchSpaceError(f"search space {self.source}: every key is fixed, nothing is left to search")
        return SearchSpace(kept, self.source)

    def size(self) -> int | None:
        """How many distinct parameter sets the space holds: None when a float is continuous."""
        sizes = [p.size() for p in self.parameters]
        return None if None in sizes else math.prod(sizes)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {p.key: p.suggest(trial) for p in self.parameters}


def as_override(key: str, value: Any) -> str:
    """A `--key=value` argument for LightningCLI. Strings go raw (quotes would be part of the value), and
    floats always carry a decimal point, since YAML 1.1 reads 1e-05 as a string."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.12e}"
    elif value is None:
        text = "null"
    else:
        text = str(value)
    return f"--{key}={text}"
