"""The allocation policy the programs set: large blocks stay on glibc's heap instead of being mmapped."""

import ctypes
import os
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lightning_modules import allocator, cli

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocates a 40 MB block (above glibc's largest default mmap threshold, 32 MiB) and reports whether glibc
# served it with mmap: mallinfo2's hblks counts the blocks currently mmapped.
PROBE = """
import ctypes, sys
from lightning_modules.allocator import tune_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
applied = tune_allocator() if sys.argv[1] == "tuned" else {}
before = libc.mallinfo2().hblks
block = libc.malloc(40_000_000)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(mapped, sorted(applied))
"""


def probe(mode: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in allocator.USER_POLICY_VARIABLES}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        env={**environ, **env},
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc ≥ 2.33")
def test_large_blocks_leave_mmap_for_the_heap():
    assert probe("default") == "1 []"  # glibc's default: a 40 MB block is mmapped
    assert probe("tuned") == "0 ['M_MMAP_THRESHOLD', 'M_TRIM_THRESHOLD']"  # after tune_allocator: heap


@pytest.mark.skipif(not GLIBC or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc ≥ 2.33")
def test_a_policy_the_user_chose_is_left_alone():
    assert probe("tuned", MALLOC_MMAP_THRESHOLD_="131072") == "1 []"
    assert probe("tuned", LAB_DEFAULT_MALLOC="1") == "1 []"


def test_user_policy_detection():
    assert not allocator.user_chose_policy({})
    assert allocator.user_chose_policy({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"})
    assert allocator.user_chose_policy({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1000000"})
    assert not allocator.user_chose_policy({"LAB_DEFAULT_MALLOC": ""})


def test_no_op_off_glibc(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    for name in allocator.USER_POLICY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert allocator.tune_allocator() == {}


def test_train_py_and_the_lab_train_command_set_the_policy_before_the_cli(monkeypatch):
    """Both ways of running the training program (python train.py, the installed lab-train) go through
    cli.run, which sets the allocation policy first; cli.main, which tests call in-process, does not."""
    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["lab-train"] == "lightning_modules.cli:run"
    assert "run()" in (root / "train.py").read_text()
    calls = []
    monkeypatch.setattr(cli, "tune_allocator", lambda: calls.append("allocator"))
    monkeypatch.setattr(cli, "main", lambda: calls.append("main"))
    cli.run()
    assert calls == ["allocator", "main"]
