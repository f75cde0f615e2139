"""Hidden states of a frozen encoder on disk, one file per token sequence, so they are computed once.

A frozen encoder's output for a review never changes, and on a CPU it costs more than the head trained over
it; networks/cached_encoder.py reads the states from here instead of recomputing them. The store is a
directory:

    manifest.json        what made the states: the encoder, the SHA-256 of its frozen weights, how many of its
                         layers, the width and the stored dtype
    ab/abcdef….npy       one sequence's states (L, D) at its L real tokens, named by a digest of its ids

A sequence is found by its token ids (the real ones, padding left out), which are what the tokenizer and
max_len made of the text: another tokenizer or max_len gives other ids and so other files, never a stale one.
Another encoder, or the same one with other weights, is another manifest: `FeatureStore.open` refuses a
directory whose manifest differs, in one line saying what to do. Each file is written under a temporary name
and moved into place (os.replace), as the data cache does: an interrupted run leaves only whole files, and
the next run computes what is missing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from datamodules.preparation import write_atomically
from lab_errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1  # bump when the files' layout changes: every store is then rebuilt under a new name
DTYPES = {"float16": np.float16, "float32": np.float32}


def weights_digest(state: dict[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and values of a state dict: what identifies frozen weights."""
    sha = hashlib.sha256()
    for name, tensor in state.items():
        values = tensor.detach().cpu().contiguous()
        sha.update(f"{name}:{values.dtype}:{tuple(values.shape)};".encode())
        sha.update(values.view(torch.uint8).numpy().tobytes() if values.numel() else b"")
    return sha.hexdigest()


def sequence_key(ids: Tensor) -> str:
    """The name of a sequence's file: a digest of its token ids (1-D, any integer dtype)."""
    return hashlib.blake2b(ids.to(torch.int64).cpu().numpy().tobytes(), digest_size=16).hexdigest()


class FeatureStore:
    """A directory of per-sequence states (see the module's docstring). Build it with `open`."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        self.directory, self.manifest = directory, manifest
        self.dtype = DTYPES[manifest["dtype"]]
        self.torch_dtype = getattr(torch, manifest["dtype"])
        self.width = int(manifest["width"])

    @classmethod
    def open(cls, directory: str | Path, manifest: dict[str, Any]) -> FeatureStore:
        """The store at `directory`, created with `manifest` if new; an InputError if it was made by another
        encoder (its manifest differs)."""
        if manifest.get("dtype") not in DTYPES:
            raise InputError(f"feature cache dtype must be one of {sorted(DTYPES)}, got {manifest.get('dtype')!r}")
        directory = Path(directory)
        manifest = {"format": FORMAT_VERSION, **manifest}
        path = directory / MANIFEST
        if path.exists():
            found = json.loads(path.read_text())
            if found != manifest:
                differs = sorted(k for k in {*found, *manifest} if found.get(k) != manifest.get(k))
                raise InputError(
                    f"feature cache {directory} was made by another encoder ({', '.join(differs)} differ: "
                    f"{ {k: found.get(k) for k in differs} } there, { {k: manifest.get(k) for k in differs} } "
                    "now): give another cache_dir, or delete that one"
                )
        else:
            text = json.dumps(manifest, indent=1, sort_keys=True).encode()
            write_atomically(path, lambda file: file.write(text))
        return cls(directory, manifest)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"  # 256 subfolders: no folder of 50,000 files

    def get(self, key: str) -> Tensor | None:
        """A sequence's states (L, D) as float32, or None when they were never stored."""
        try:
            array = np.load(self.path(key))
        except FileNotFoundError:
            return None
        if array.ndim != 2 or array.shape[1] != self.width or array.dtype != self.dtype:
            raise ValueError(f"{self.path(key)} holds {array.dtype} {array.shape}, not (L, {self.width}) states")
        return torch.from_numpy(array.astype(np.float32))

    def put(self, key: str, states: Tensor) -> None:
        """Stores one sequence's states (L, D), in the manifest's dtype."""
        array = states.detach().to("cpu", torch.float32).numpy().astype(self.dtype)
        write_atomically(self.path(key), lambda file: np.save(file, array))

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.npy"))
