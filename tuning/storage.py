"""Where a study lives: Optuna's RDB storages (SQLite, PostgreSQL) with heartbeats, or its journal file.

Opening is safe for several workers at once: a local SQLite file's schema is created under a file lock
(creation_lock), and PostgreSQL, where two workers creating the tables at the same moment collide, is
retried. A trial left RUNNING by a dead worker is failed by the heartbeat and queued again once (RETRY).

A journal file is checked when it is opened. A worker killed while appending leaves a last line without its
newline; Optuna skips such a line when it reads, but the next worker's append would glue a record onto it and
make a line no reader can parse, from then on. So that torn line is cut (under the journal's own lock, a copy
of the file kept beside it as <file>.torn-<time>, one warning saying so); a line damaged anywhere else is a
StudyError naming the file and the line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from tuning.settings import StudyError

SCHEMA_ATTEMPTS = 3  # PostgreSQL: two workers creating the tables at once collide; the loser tries again
with warnings.catch_warnings():  # marked experimental
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    RETRY = RetryHeartbeatStaleTrialCallback(max_retry=1)
log = logging.getLogger("tune")


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith((".log", ".journal"))


def open_storage(url: str, heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """An RDB URL (sqlite:///…, postgresql://…) with heartbeats, so the trial of a killed process is failed
    and retried; or journal:PATH / a *.log file for Optuna's journal file (no heartbeats: Optuna offers them
    on RDB storages only)."""
    try:
        if is_journal(url):
            return open_journal(Path(url.removeprefix("journal:")))
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        beat = {"heartbeat_interval": 30, "grace_period": 120, "heartbeat_stale_trial_callback": RETRY}
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                with warnings.catch_warnings():  # heartbeats are marked experimental
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return RDBStorage(driver_url(url), engine_kwargs=engine_kwargs, **(beat if heartbeat else {}))
            except sqlalchemy.exc.IntegrityError:  # another worker created the same tables at the same moment
                if attempt == SCHEMA_ATTEMPTS - 1:
                    raise
                time.sleep(1.0 + attempt)
    except StudyError:
        raise
    except Exception as err:  # sqlalchemy, driver import and OS errors all mean "cannot use this storage"
        raise StudyError(f"cannot open storage {url!r}: {str(err).splitlines()[0]}") from err


def open_journal(path: Path) -> JournalStorage:
    """Optuna's journal file at `path`, its torn last line cut first (see the module's docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = JournalFileBackend(str(path))  # creates the file when there is none
    torn_at = check_journal(path)
    if torn_at is not None:
        cut_torn_tail(path, torn_at)
    return JournalStorage(backend)


def check_journal(path: Path) -> int | None:
    """Where the journal's last line starts when it has no newline (None when every line has one); a StudyError
    naming the line when a line with its newline is not a JSON record."""
    offset = 0
    with path.open("rb") as journal:
        for number, line in enumerate(journal, start=1):
            if not line.endswith(b"\n"):
                return offset  # torn, or being written by another worker right now: cut_torn_tail tells which
            try:
                json.loads(line)
            except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
                raise StudyError(
                    f"journal {path}: line {number} is not a JSON record, and Optuna cannot read past it: "
                    "restore the file from a copy, or start a new study"
                ) from err
            offset += len(line)
    return None


def cut_torn_tail(path: Path, start: int) -> Path | None:
    """Cuts the journal at `start` when what follows has no newline, keeping a copy of the file beside it;
    returns the copy, or None when there was nothing to cut.

    It holds the lock Optuna's own writers take to append (JournalFileSymlinkLock, on the same file), so no
    worker appends meanwhile, and it looks at the tail again under it: the line another worker was writing
    when check_journal saw it is whole by now, and another worker may have cut the tail first. A worker killed
    mid-append also leaves that lock taken: Optuna releases it after its grace period (30 s), then this goes on."""
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with path.open("rb") as journal:
            journal.seek(start)
            tail = journal.read()
        if not tail or b"\n" in tail:
            return None
        copy = path.with_name(f"{path.name}.torn-{datetime.now():%Y%m%d-%H%M%S-%f}")
        shutil.copyfile(path, copy)
        with path.open("r+b") as journal:
            journal.truncate(start)
            os.fsync(journal.fileno())  # as Optuna's appends are: the cut survives a crash of this process
    finally:
        lock.release()
    log.warning(
        "journal %s: its last line was cut short (a worker stopped while writing it): removed those %d bytes; "
        "the file as it was is %s",
        path,
        len(tail),
        copy,
    )
    return copy


def driver_url(url: str) -> str:
    """postgresql://… with the driver in requirements.txt (psycopg 3; SQLAlchemy's default is psycopg2)."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://") if url.startswith("postgresql://") else url


@contextlib.contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """An exclusive lock beside a local SQLite file while its schema and study are created (other storages
    handle concurrent creation themselves)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
