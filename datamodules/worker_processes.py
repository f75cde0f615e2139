"""Worker processes that end with the run that started them.

`Dataset.map(num_proc=N)` tokenises in a pool of N worker processes plus a manager process (its progress queue).
When the run is killed outright (SIGKILL, the out-of-memory killer, a lost terminal) the pool cannot shut down,
and those processes (each a copy of the run, about half a gigabyte with spaCy) were found alive half an hour
later. Inside `children_end_with_parent()`, every process the run forks from its main thread asks Linux to be
sent SIGKILL when the run dies (prctl PR_SET_PDEATHSIG); one whose parent is already gone ends at once.

Only forks of the main thread, and only inside the block: Linux sends the signal when the forking *thread* ends,
so a child forked by a short-lived thread would be killed early. Processes started by `subprocess` are untouched
(they are not forked through Python's hooks). Elsewhere than Linux nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_inside = 0  # how many children_end_with_parent blocks are open (in this process)
_parent_pid: int | None = None  # set just before a fork that is to be tied to its parent, read in the child


def _before_fork() -> None:
    global _parent_pid
    tied = _inside > 0 and threading.current_thread() is threading.main_thread()
    _parent_pid = os.getpid() if tied else None


def _in_child() -> None:
    global _inside
    _inside = 0  # the child's own forks are its business
    if _parent_pid is None:
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != _parent_pid:  # the parent died before the request took effect
        os._exit(1)


if sys.platform.startswith("linux"):
    os.register_at_fork(before=_before_fork, after_in_child=_in_child)


@contextlib.contextmanager
def children_end_with_parent() -> Iterator[None]:
    """Processes forked from the main thread in this block die when this process dies."""
    global _inside
    _inside += 1
    try:
        yield
    finally:
        _inside -= 1
