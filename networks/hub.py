"""Hugging Face models (and tokenizers) by hub name or local folder, or one line saying why not, in seconds.

`from_pretrained` alone turns user mistakes into slow or unreadable failures: a folder that is not a saved
model (a stack trace about config.json), a hub name while offline (about 45 s of retries, then a long
OSError), a folder of another architecture (loaded anyway, with random weights and a warning). Here one path
resolves every source before anything is loaded:

- an existing path must be a folder holding `required_file` (config.json for a model, tokenizer_config.json
  for a tokenizer: the save_pretrained layout), and its config must be readable and of an accepted type;
- anything else must be a valid hub name. One found in the local cache is loaded from it without the network;
  otherwise the hub gets one request with a timeout (none at all under HF_HUB_OFFLINE=1), and a name it does
  not know, or no answer, is an InputError saying how to point at a local folder instead.

`resolve_pretrained` does this once and returns a `PretrainedSource`, from which a model and its tokenizer
both load (generate.py); `load_pretrained` is the two steps in one call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab_errors import InputError, MissingInputError, first_line
from networks.pinned_models import is_pinned, pinned_folder

PROBE_TIMEOUT_S = 5.0  # one request; a hub that takes longer is treated as unreachable


def local_folder_hint(name: str) -> str:
    return (
        f"point at a local folder instead (save_pretrained layout: config.json, weights, tokenizer files), "
        f"e.g. made where the hub is reachable with `hf download {name} --local-dir {Path(name).name}`"
    )


def hub_answer(name: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the hub knows `name`, else why it could not be asked (offline, no answer in `timeout` s).
    A hub that answers that it has no such model is an InputError: no cache or retry can help then."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE=1 is set"
    try:
        HfApi(endpoint=constants.ENDPOINT).model_info(name, timeout=timeout)
    except RepositoryNotFoundError as err:
        raise InputError(
            f"{name!r} is neither a folder here nor a model on the Hugging Face hub (or it is private: "
            f"`hf auth login`); {local_folder_hint(name)}"
        ) from err
    except Exception as err:  # any transport failure (DNS, refused, timeout, proxy, HTTP 5xx): no answer
        return f"the Hugging Face hub at {constants.ENDPOINT} did not answer ({first_line(err)})"
    return None


def unreachable(name: str, why_not: str, cached: str = "not in the local Hugging Face cache") -> InputError:
    return MissingInputError(
        f"{name!r} is not a folder here, {cached} and the hub cannot be reached: {why_not}; {local_folder_hint(name)}"
    )


@dataclass(frozen=True)
class PretrainedSource:
    """Where `from_pretrained` reads from: a checked folder, or a hub name with the options that keep it off
    a dead network. `from_cache`: a hub name answered by the local cache alone (so far)."""

    name_or_dir: str
    options: dict[str, Any] = field(default_factory=dict)
    from_cache: bool = False

    def load(self, model_class: Any, **kwargs: Any) -> Any:
        """`model_class.from_pretrained(...)` (a model class or AutoTokenizer), a missing file in one line."""
        try:
            return model_class.from_pretrained(self.name_or_dir, **self.options, **kwargs)
        except (OSError, ValueError) as err:  # no weights file, no tokenizer files, a truncated file
            if not self.from_cache:
                raise InputError(
                    f"{self.name_or_dir}: {model_class.__name__} could not be loaded from it: {first_line(err)}"
                ) from err
        # The cache holds the config but not every file this class needs: the hub may have the rest.
        why_not = hub_answer(self.name_or_dir)
        if why_not is not None:
            raise unreachable(self.name_or_dir, why_not, cached="only partly in the local Hugging Face cache")
        return PretrainedSource(self.name_or_dir).load(model_class, **kwargs)


def model_type(name_or_dir: str, options: dict[str, Any]) -> str:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name_or_dir, **options).model_type


def check_model_type(name_or_dir: str, found: str, model_types: tuple[str, ...]) -> None:
    if found not in model_types:
        needed = " or ".join(repr(t) for t in model_types)
        raise InputError(f"{name_or_dir} holds a {found!r} model; a {needed} model is needed here")


def resolve_folder(folder: Path, model_types: tuple[str, ...] | None, required_file: str) -> PretrainedSource:
    what = "tokenizer" if "tokenizer" in required_file else "model"
    if not folder.is_dir():
        raise InputError(f"{folder} is a file; a pretrained {what} is a folder written by save_pretrained")
    if not (folder / required_file).is_file():
        raise InputError(
            f"{folder} is not a saved Hugging Face {what} (no {required_file}): give a folder written by "
            "save_pretrained, or a hub name"
        )
    source = PretrainedSource(str(folder), {"local_files_only": True})
    if model_types is not None:
        try:
            found = model_type(source.name_or_dir, source.options)
        except (OSError, ValueError, KeyError) as err:  # unparsable JSON, no or unknown model_type
            raise InputError(
                f"{folder / 'config.json'} is not a model config Hugging Face can read: {first_line(err)}"
            ) from err
        check_model_type(str(folder), found, model_types)
    return source


def resolve_hub_name(name: str, model_types: tuple[str, ...] | None, required_file: str) -> PretrainedSource:
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, required_file), str):  # cached: no network, no retries
        source = PretrainedSource(name, {"local_files_only": True}, from_cache=True)
    else:
        why_not = hub_answer(name)
        if why_not is not None:
            raise unreachable(name, why_not)
        source = PretrainedSource(name)
    if model_types is not None:
        try:
            found = model_type(name, source.options)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{name}: its config.json could not be read from the hub: {first_line(err)}") from err
        check_model_type(name, found, model_types)
    return source


def resolve_pretrained(
    name_or_dir: str, model_types: tuple[str, ...] | None = None, required_file: str = "config.json"
) -> PretrainedSource:
    """Checks `name_or_dir` (a short name of networks/pinned_models.py, a save_pretrained folder or a hub name)
    without waiting on a dead network.

    model_types: the `config.model_type` values accepted (None: any, and no config is read). required_file:
    what a folder, or the cache, must hold ("tokenizer_config.json" for AutoTokenizer).
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if is_pinned(name_or_dir):  # a short name of a model that a Python package carries (networks/pinned_models.py)
        return resolve_folder(pinned_folder(name_or_dir), model_types, required_file)
    folder = Path(name_or_dir).expanduser()
    if folder.exists():
        return resolve_folder(folder, model_types, required_file)
    try:
        validate_repo_id(name_or_dir)
    except HFValidationError as err:  # "./x", "/a/b/c", "~/m", spaces: a path that is not there
        what = "tokenizer" if "tokenizer" in required_file else "model"
        raise MissingInputError(f"{name_or_dir}: no such {what} folder (nor a valid hub name)") from err
    return resolve_hub_name(name_or_dir, model_types, required_file)


def load_pretrained(
    model_class: Any,
    name_or_dir: str,
    model_types: tuple[str, ...] | None = None,
    required_file: str = "config.json",
    **kwargs: Any,
) -> Any:
    """`model_class.from_pretrained(name_or_dir, **kwargs)`, every failure a one-line InputError in seconds."""
    return resolve_pretrained(name_or_dir, model_types, required_file).load(model_class, **kwargs)


def load_fast_tokenizer(name_or_dir: str) -> Any:
    """The `tokenizers.Tokenizer` behind `AutoTokenizer.from_pretrained(name_or_dir)`, without the padding and
    truncation its tokenizer.json may fix (all-MiniLM-L6-v2's pads and cuts every text to 128 ids, so [PAD]
    would be read as text and `max_len` ignored): the lab's data modules cut to their own `max_len` and pad per
    batch, with a mask."""
    from transformers import AutoTokenizer

    tokenizer = load_pretrained(AutoTokenizer, name_or_dir, required_file="tokenizer_config.json").backend_tokenizer
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer
