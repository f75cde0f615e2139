"""Hugging Face models (and tokenizers) by hub name or local folder, or one line saying why not, in seconds.

`from_pretrained` alone turns three user mistakes into slow or unreadable failures: a folder that is not a
saved model (a stack trace about config.json), a hub name while offline (about 45 s of retries, then a
long OSError), a folder of another architecture (loaded anyway, with random weights and a warning). Here a
folder must hold a `config.json` (the `save_pretrained` layout) of an accepted `model_type`; a name is
first looked up in the local cache, and the hub is contacted only when it answers within a few seconds.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from layers.errors import InputError, MissingInputError

HUB_HOST = "huggingface.co"
HUB_TIMEOUT_S = 3.0


def looks_like_path(name_or_dir: str) -> bool:
    """An existing path, one starting with ".", "/" or "~", or one of more than two parts is a folder; anything
    else ("bert-base-uncased", "org/model") is a hub name."""
    return (
        Path(name_or_dir).expanduser().exists() or name_or_dir.startswith((".", "/", "~")) or name_or_dir.count("/") > 1
    )


def hub_reachable(timeout_s: float = HUB_TIMEOUT_S) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def check_model_folder(folder: Path, model_types: tuple[str, ...] | None, required_file: str = "config.json") -> None:
    what = "tokenizer" if "tokenizer" in required_file else "model"
    if not folder.exists():
        raise MissingInputError(f"{folder}: no such {what} folder")
    if not folder.is_dir() or not (folder / required_file).is_file():
        raise InputError(
            f"{folder} is not a saved Hugging Face {what} (no {required_file}): give a folder written by "
            "save_pretrained, or a hub name"
        )
    config = folder / "config.json"
    if model_types is not None:
        import json

        model_type = json.loads(config.read_text()).get("model_type")
        if model_type not in model_types:
            raise InputError(f"{folder} holds a {model_type!r} model; this needs one of {', '.join(model_types)}")


def load_pretrained(
    model_class: Any,
    name_or_dir: str,
    model_types: tuple[str, ...] | None = None,
    required_file: str = "config.json",
    **kwargs: Any,
):
    """`model_class.from_pretrained(name_or_dir, **kwargs)`, with the failures above as one-line InputErrors.

    model_types: the `config.model_type` values accepted (None: any). required_file: what a local folder must
    hold ("tokenizer_config.json" for AutoTokenizer).
    """
    if looks_like_path(name_or_dir):
        check_model_folder(Path(name_or_dir).expanduser(), model_types, required_file)
        model = model_class.from_pretrained(str(Path(name_or_dir).expanduser()), **kwargs)
    else:
        try:  # the local cache first: no network, no retries
            model = model_class.from_pretrained(name_or_dir, local_files_only=True, **kwargs)
        except (OSError, ValueError):  # ValueError: not even a valid hub name
            if not hub_reachable():
                raise MissingInputError(
                    f"{name_or_dir!r} is not in the local Hugging Face cache and the hub cannot be reached: "
                    "point at a local folder written by save_pretrained instead"
                ) from None
            try:
                model = model_class.from_pretrained(name_or_dir, **kwargs)
            except (OSError, ValueError) as err:
                raise InputError(f"{name_or_dir!r}: {str(err).strip().splitlines()[0]}") from err
    if model_types is not None and model.config.model_type not in model_types:
        raise InputError(
            f"{name_or_dir} is a {model.config.model_type!r} model; this needs one of {', '.join(model_types)}"
        )
    return model


# ---- generate.py's source resolution (to be unified with load_pretrained above) ----
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
