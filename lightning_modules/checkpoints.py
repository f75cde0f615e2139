"""Checkpoint files as the lab writes, finds and reads them: never half-written, never half-trusted.

- `AtomicCheckpointIO` writes a checkpoint under a temporary name and renames it, so a file under its final name
  is always whole (a full disk or a kill mid-write leaves the previous checkpoint, not a truncated one); a full
  disk is a DiskFullError, which train.py reports in one line;
- `find_checkpoint` resolves `last` and `best` in an experiment's run folders, `best` being the checkpoint that
  ModelCheckpoint recorded as best by its monitored metric (not the newest file);
- `read_checkpoint` loads a file the user named, or says in one line (an InputError) what is wrong with it;
- `check_task` says which LightningModule a checkpoint holds, refusing one of another task in one line
  (lightning_modules/loading.py builds the model from it).
"""

from __future__ import annotations

import errno
import importlib
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lab_errors import InputError, MissingInputError, first_line


class DiskFullError(InputError, OSError):
    """No room left for checkpoint `path` (a full disk or an exhausted quota). Not bad input, but like it the
    user's to fix, so it is reported as input errors are: one line, exit status 2. Still an OSError with its
    errno (no strerror is set, so that str() stays the one line)."""

    def __init__(self, path: Path, err: OSError) -> None:
        self.path, self.reason = path, err.strerror
        if path.exists():
            kept = f"the previous {path.name} is intact, as are the run's other checkpoints"
        else:
            kept = "nothing was written under that name, and the run's other checkpoints are intact"
        super().__init__(
            f"no space left to write {path} ({err.strerror}): {kept}; free space on its disk, then resume with "
            "--ckpt_path last"
        )
        self.errno = err.errno


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO that writes `.<name>.partial` beside the target, then renames it to the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: Lightning's own transaction
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, path)  # atomic on POSIX and Windows within one folder
        except BaseException as err:
            partial.unlink(missing_ok=True)
            if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(path, err) from err
            raise


def read_checkpoint(path: str | Path, weights_only: bool = True) -> dict[str, Any]:
    """The checkpoint in `path`, loaded on the CPU; an InputError naming the file when it is not a readable
    Lightning checkpoint. weights_only=True (the default) refuses files that would run code when loaded."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a checkpoint file")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive whose directory is at its very end
        raise InputError(f"{path} is not a PyTorch checkpoint: the file is truncated or was not written by torch.save")
    try:
        # mmap: tensors are mapped, not read, so checking a file (the CLI does before Lightning loads it again)
        # costs its index, not its size; they are read from the file when used.
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
    except pickle.UnpicklingError as err:
        raise InputError(
            f"{path} holds Python objects that loading with weights_only=True refuses "
            f"({first_line(err)}); loading it anyway runs code from the file: only for a file you trust, in Python, "
            "with lightning_modules.loading.load_model(path, ModelClass, weights_only=False)"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        raise InputError(f"{path} is a damaged checkpoint: {first_line(err)}") from err
    if not isinstance(checkpoint, dict) or not {"state_dict", "pytorch-lightning_version"} <= checkpoint.keys():
        raise InputError(f"{path} is a PyTorch file but not a Lightning checkpoint (no state_dict and version)")
    return checkpoint


# Classes of checkpoints written before the classifier and transformer-config consolidation; the conversion
# (lightning_modules/legacy_checkpoints.py) rewrites them for today's classes.
LEGACY_COMMAND = "python -m lightning_modules.legacy_checkpoints OLD.ckpt NEW.ckpt"


def check_task(path: str | Path, checkpoint: dict[str, Any], expected: type) -> type:
    """The LightningModule class `checkpoint` holds: the class LightningCLI recorded in its hyperparameters
    (`_class_path`), or the lab's modules in the checkpoint itself (text_encoder_state.MODEL_CLASS_KEY), which
    must be `expected` or a subclass; `expected` itself for a checkpoint that records none (another program's).
    An InputError naming the file otherwise (another task, an old layout)."""
    from lightning_modules.legacy_checkpoints import is_legacy
    from lightning_modules.text_encoder_state import MODEL_CLASS_KEY

    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = hparams.get("_class_path") or checkpoint.get(MODEL_CLASS_KEY)
    if is_legacy(checkpoint):
        raise InputError(
            f"{path} was written by an earlier version of the lab: convert it once with `{LEGACY_COMMAND}`"
        )
    if class_path is None:
        return expected
    module_name, _, name = str(class_path).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise InputError(f"{path} holds a {class_path}, which cannot be imported: {first_line(err)}") from err
    if not (isinstance(cls, type) and issubclass(cls, expected)):
        raise InputError(
            f"{path} is a checkpoint of {name}, not of a {expected.__name__}: give one written by a "
            f"{expected.__name__} run"
        )
    return cls


def model_checkpoint_states(checkpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The state every ModelCheckpoint callback (or subclass) saved into a checkpoint (monitor, current_score,
    best_model_path …); a callback's state is keyed by its class name and arguments."""
    checkpoint_keys = ("ModelCheckpoint", "BestAndLastCheckpoint")
    return [state for key, state in checkpoint.get("callbacks", {}).items() if key.startswith(checkpoint_keys)]


def recorded_best(last_checkpoint: Path) -> Path | None:
    """The best checkpoint that ModelCheckpoint recorded in `last_checkpoint`'s callback state, if it exists."""
    for state in model_checkpoint_states(read_checkpoint(last_checkpoint)):
        if state.get("best_model_path"):
            best = last_checkpoint.parent / Path(state["best_model_path"]).name
            if best.is_file():
                return best
    return None


def version_number(path: Path) -> int:
    match = re.fullmatch(r"version_(\d+)", path.name)
    return int(match.group(1)) if match else -1


def find_checkpoint(experiment_dir: Path, which: str) -> Path | None:
    """The newest run's last.ckpt (which="last") or the best checkpoint that run recorded in it (which="best"),
    under `experiment_dir`/version_N/checkpoints; None when no run has one."""
    for version in sorted(experiment_dir.glob("version_*"), key=version_number, reverse=True):
        last = version / "checkpoints" / "last.ckpt"
        if not last.is_file():
            continue
        if which == "last":
            return last
        if (best := recorded_best(last)) is not None:
            return best
    return None


def run_folder_of(checkpoint: Path) -> Path | None:
    """runs/<task>/<experiment>/version_N for a checkpoint in its checkpoints/ folder, else None."""
    folder = checkpoint.resolve().parent
    if folder.name == "checkpoints" and version_number(folder.parent) >= 0:
        return folder.parent
    return None
