"""What a W&B run in offline mode stored: the records of its run-<id>.wandb files, read with W&B's own record
schema (`wandb.proto.wandb_internal_pb2.Record`). An offline run keeps its history, config and summary only
there (its files/ folder holds the media and saved files), and wandb has no reader for them but `wandb sync`.

The file is a LevelDB log (github.com/google/leveldb, doc/log_format.md) after W&B's 7-byte header: 32 KiB blocks
of chunks, each a 7-byte header (CRC-32C, little-endian length, type) and its bytes; a record is one FULL chunk or
a FIRST, MIDDLE… and LAST; a block's last < 7 bytes are padding.
"""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7  # W&B's file header (":W&B", a 2-byte key, a version byte) and each chunk's header are 7 bytes
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    """The Record messages of one run-<id>.wandb file, in order."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    found, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # the block's padding
            pos += BLOCK - pos % BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = Record()
            record.ParseFromString(pending)
            found.append(record)
    return found


def _key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def offline_runs(folder: Path) -> list[Path]:
    """The offline W&B runs under `folder`/wandb, oldest first (their names begin with the start time)."""
    return sorted(folder.glob("wandb/offline-run-*"))


def flush() -> None:
    """Waits for W&B's writer process to write out every finished run (wandb.teardown, which also stops it; a
    later run starts a new one): in a process that goes on after `finish()`, the records may come much later."""
    import wandb

    wandb.teardown()


def finished_records(run: Path, timeout: float = 60.0) -> list[Any]:
    """The records of an offline run folder once its exit record is written: W&B's writer is a process of its
    own, which may still be writing when `finish()` has returned."""
    path = run / f"run-{run_id(run)}.wandb"
    deadline = time.monotonic() + timeout
    while True:
        found = records(path) if path.is_file() else []
        if any(r.WhichOneof("record_type") == "exit" for r in found):
            return found
        assert time.monotonic() < deadline, f"{path} has no exit record after {timeout} s"
        time.sleep(0.1)


def history(run: Path) -> list[dict[str, Any]]:
    """Each `log` call of an offline run folder: {key: value}."""
    rows = []
    for record in finished_records(run):
        if record.WhichOneof("record_type") == "history":
            rows.append({_key(item): json.loads(item.value_json) for item in record.history.item})
    return rows


def config(run: Path) -> dict[str, Any]:
    """The run's config (W&B's hyperparameters), its updates applied in order."""
    values: dict[str, Any] = {}
    for record in finished_records(run):
        if record.WhichOneof("record_type") == "config":
            values.update({_key(item): json.loads(item.value_json) for item in record.config.update})
    return values


def run_id(run: Path) -> str:
    """The W&B run id of an offline run folder, named offline-run-<start time>-<id> (its file: run-<id>.wandb)."""
    return run.name.rpartition("-")[2]
