"""The process's allocation policy, set once by the programs (train.py, tune.py, generate.py, benchmarks/).

A transformer step on the CPU allocates and frees the same large tensors over and over; the attention scores
of the hand-built path alone are (B, H, T, T), 33.5 MB at B=32, H=4, T=256. glibc serves every block above
its mmap threshold (128 KiB, rising with use to at most 32 MiB) with a fresh `mmap` and hands it back with
`munmap` when freed, so each such tensor is page-faulted in, page by page, several times a step. Raising the
threshold keeps those blocks on the heap, where a freed block is reused as it is; raising the trim threshold
stops glibc from returning the top of the heap to the kernel after every step only to ask for it again.
PyTorch's CPU performance guide makes the same point and suggests preloading jemalloc or tcmalloc; this does
it with the allocator that is already there, so nobody has to know a variable.

This is a program's decision, not a library's: `layers/` never calls it. It is a no-op off glibc (macOS,
Windows, musl) and when the user has chosen a policy already (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
GLIBC_TUNABLES or an LD_PRELOADed allocator); LAB_DEFAULT_MALLOC=1 keeps glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

# mallopt parameters, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks up to 1 GiB are kept on the heap: every tensor of a training step on this scale. mallopt takes an
# int, so the trim threshold is the largest one (2 GiB − 1): memory freed at the end of a step stays mapped
# for the next one.
MMAP_THRESHOLD = 1 << 30
TRIM_THRESHOLD = (1 << 31) - 1

_applied: dict[str, int] = {}  # what tune_allocator set in this process

USER_POLICY_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LAB_DEFAULT_MALLOC")


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols the process already has: glibc's malloc, or a preloaded one
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def user_chose_policy(environ: dict[str, str] | None = None) -> bool:
    """True when the environment already sets an allocation policy this module must not override."""
    environ = os.environ if environ is None else environ
    preload = environ.get("LD_PRELOAD", "")
    return any(environ.get(name) for name in USER_POLICY_VARIABLES) or "malloc" in preload


def tune_allocator() -> dict[str, int]:
    """Keep large tensors on glibc's heap (see the module's docstring). Returns what was set, {} if nothing.

    Call it once, first thing in a program; it changes only allocations made after it.
    """
    if user_chose_policy():
        return {}
    libc = _glibc()
    if libc is None:
        return {}
    applied = {}
    for name, param, value in (
        ("M_MMAP_THRESHOLD", M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("M_TRIM_THRESHOLD", M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ):
        if libc.mallopt(param, value) == 1:  # mallopt returns 1 on success, 0 on a refused value
            applied[name] = value
    _applied.update(applied)
    return applied


def describe() -> str:
    """One line for benchmark headers: which allocation policy this process runs under."""
    if _applied:
        return "glibc, " + ", ".join(f"{name}={value}" for name, value in _applied.items())
    if user_chose_policy():
        return "set by the environment (" + ", ".join(n for n in USER_POLICY_VARIABLES if os.environ.get(n)) + ")"
    return "the C library's defaults"
