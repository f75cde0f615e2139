"""Tokenising workers end with the run that started them, even when it is killed outright."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A run that tokenises with two worker processes through the lab's own map, each worker noting its pid and
# then working slowly; the test kills the run with SIGKILL while they work.
RUN = textwrap.dedent(
    """
    import sys, time, os
    from pathlib import Path
    from datasets import Dataset
    from datamodules.preparation import _map

    class Slow:
        digest = "slow"

        def __call__(self, batch):
            (Path(sys.argv[1]) / str(os.getpid())).touch()
            time.sleep(60)
            return batch

    print(os.getpid(), flush=True)
    _map(Dataset.from_dict({"text": ["a"] * 4000}), Slow(), num_proc=2, desc="slow", remove=[])
    """
)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be read


def children_of(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_end_when_the_run_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    run = subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path)], env=env, cwd=tmp_path, stdout=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while len(list(tmp_path.glob("[0-9]*"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
        workers = [int(p.name) for p in tmp_path.glob("[0-9]*")]
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
        workers += children_of(run.pid)  # the pool's manager too
        assert len(set(workers)) >= 3
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.time() + 20
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)]
