"""Where a study lives: Optuna's RDB storages (SQLite, PostgreSQL) with heartbeats, or its journal file.

Opening is safe for several workers at once: a local SQLite file's schema is created under a file lock
(creation_lock), and PostgreSQL, where two workers creating the tables at the same moment collide, is
retried. A trial left RUNNING by a dead worker is failed by the heartbeat and queued again once (RETRY).
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend

from tuning.settings import StudyError

SCHEMA_ATTEMPTS = 3  # PostgreSQL: two workers creating the tables at once collide; the loser tries again
with warnings.catch_warnings():  # marked experimental
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    RETRY = RetryHeartbeatStaleTrialCallback(max_retry=1)


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or url.endswith((".log", ".journal"))


def open_storage(url: str, heartbeat: bool = True) -> optuna.storages.BaseStorage:
    """An RDB URL (sqlite:///…, postgresql://…) with heartbeats, so the trial of a killed process is failed
    and retried; or journal:PATH / a *.log file for Optuna's journal file (no heartbeats: Optuna offers them
    on RDB storages only)."""
    try:
        if is_journal(url):
            path = Path(url.removeprefix("journal:"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
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
    except Exception as err:  # sqlalchemy, driver import and OS errors all mean "cannot use this storage"
        raise StudyError(f"cannot open storage {url!r}: {str(err).splitlines()[0]}") from err


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
