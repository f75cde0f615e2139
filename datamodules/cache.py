"""An on-disk cache of prepared corpora: token ids per split and the encoder that made them.

One folder per key, the key a hash of every setting that changes the result (source file, cleaning,
tokenizer and its version, vocabulary limits, split). Folders are written whole under a temporary name and
renamed into place, so an interrupted run leaves no half-written cache, and a file lock makes concurrent
processes (DDP ranks, parallel tuning trials) wait for one another instead of building it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FORMAT_VERSION = 1


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies a local source without reading it all: resolved path, size, modification time."""
    path = path.resolve()
    if path.is_dir():
        stats = [p.stat() for p in sorted(path.rglob("*")) if p.is_file()]
        return {
            "path": str(path),
            "files": len(stats),
            "size": sum(s.st_size for s in stats),
            "mtime": max((s.st_mtime_ns for s in stats), default=0),
        }
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime": stat.st_mtime_ns}


def cache_key(settings: dict[str, Any]) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pack(sequences: list[list[int]]) -> dict[str, Tensor]:
    """Many id lists as one flat tensor and their lengths: one file read instead of thousands."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    flat = torch.tensor([i for s in sequences for i in s], dtype=torch.int32)
    return {"ids": flat, "lengths": lengths}


def unpack(packed: dict[str, Tensor]) -> list[Tensor]:
    return list(torch.split(packed["ids"].long(), packed["lengths"].tolist()))


def save(folder: Path, meta: dict[str, Any], splits: dict[str, dict[str, Tensor]]) -> None:
    """Write the folder atomically: everything under a temporary name, then one rename."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
        for split, tensors in splits.items():
            torch.save(tensors, tmp / f"{split}.pt")
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Tensor]]]:
    meta = json.loads((folder / "meta.json").read_text())
    splits = {p.stem: torch.load(p, weights_only=True) for p in folder.glob("*.pt")}
    return meta, splits
