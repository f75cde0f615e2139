"""Where pretrained weights come from: a local folder or a Hugging Face hub name, settled in seconds.

`from_pretrained("gpt2")` on a machine that cannot reach the hub retries for half a minute or more before
it says so. `pretrained_source` decides first, in one short request at most:
- an existing folder must be a `save_pretrained` folder (config.json) of the expected model type, and is
  read with `local_files_only` (no network at all);
- a hub name is asked of the hub once, with a short timeout; when the hub is offline (HF_HUB_OFFLINE=1) or
  does not answer, the local cache is used if it holds the model, and otherwise one line says how to point
  at a local folder instead.
`from_pretrained(cls, name_or_dir, options)` then loads with those options, a missing or unreadable file
becoming one line too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layers.errors import InputError, MissingInputError

PROBE_TIMEOUT_S = 5.0  # one request; a hub that takes longer is treated as unreachable


def _local_folder_hint(name: str) -> str:
    return (
        f"point at a local folder instead (save_pretrained layout: config.json, weights, tokenizer files), "
        f"e.g. made where the hub is reachable with `hf download {name} --local-dir {Path(name).name}`"
    )


def _hub_answer(name: str, timeout: float) -> str | None:
    """None when the hub knows `name`, else why not (offline, unreachable)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE:
        return "the Hugging Face hub is offline (HF_HUB_OFFLINE=1)"
    try:
        HfApi(endpoint=constants.ENDPOINT).model_info(name, timeout=timeout)
    except RepositoryNotFoundError as err:
        raise InputError(
            f"{name!r} is neither a folder here nor a model on the Hugging Face hub (or it is private: "
            f"`hf auth login`); {_local_folder_hint(name)}"
        ) from err
    except Exception as err:  # any transport failure (DNS, refused, timeout, proxy, HTTP 5xx): no answer
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"the Hugging Face hub at {constants.ENDPOINT} did not answer ({first_line})"
    return None


def _config_type(name_or_dir: str, options: dict[str, Any]) -> str:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name_or_dir, **options).model_type


def pretrained_source(name_or_dir: str, model_type: str, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """The `from_pretrained` keyword arguments that load `name_or_dir` (a folder or a hub name) without
    waiting on a dead network, after checking that its config is of `model_type` (e.g. "gpt2")."""
    folder = Path(name_or_dir).expanduser()
    if folder.exists():
        if not folder.is_dir():
            raise InputError(f"{name_or_dir} is a file; a pretrained model is a folder saved with save_pretrained")
        if not (folder / "config.json").is_file():
            raise InputError(f"{name_or_dir} has no config.json: it is not a model folder saved with save_pretrained")
        options: dict[str, Any] = {"local_files_only": True}
        try:
            found = _config_type(str(folder), options)
        except (OSError, ValueError, KeyError) as err:  # unparsable JSON, no or unknown model_type
            raise InputError(f"{folder / 'config.json'} is not a model config Hugging Face can read: {err}") from err
    else:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        try:
            validate_repo_id(name_or_dir)
        except HFValidationError as err:
            raise MissingInputError(f"{name_or_dir}: no such folder (nor a valid hub name)") from err
        why_not = _hub_answer(name_or_dir, timeout)
        options = {} if why_not is None else {"local_files_only": True}
        try:
            found = _config_type(name_or_dir, options)
        except OSError as err:
            if why_not is None:
                raise InputError(f"{name_or_dir}: the hub has it but its config.json could not be read: {err}") from err
            raise InputError(
                f"{name_or_dir!r} is not a folder here, {why_not} and no cached copy exists: "
                f"{_local_folder_hint(name_or_dir)}"
            ) from err
    if found != model_type:
        raise InputError(f"{name_or_dir} holds a {found!r} model; a {model_type!r} model is needed here")
    return options


def from_pretrained(cls: Any, name_or_dir: str, options: dict[str, Any]) -> Any:
    """`cls.from_pretrained(name_or_dir, **options)` (a model or AutoTokenizer), a missing file in one line."""
    try:
        return cls.from_pretrained(name_or_dir, **options)
    except (OSError, ValueError) as err:  # no weights file, no tokenizer files, a truncated file
        detail = " ".join(str(err).split())[:300]
        raise InputError(f"{name_or_dir}: {cls.__name__} could not be loaded from it: {detail}") from err
