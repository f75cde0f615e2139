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
