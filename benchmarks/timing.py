"""What every benchmark shares: interleaved timing, medians, and a Markdown table.

The cases of one benchmark run round-robin in one process (case A, B, C, A, B, C, ...), so a neighbour that
loads the machine for a while slows every case alike, and each case's figure is the median of its repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch


def interleaved_medians(
    cases: dict[str, Callable[[], object]], repeats: int, warmup: int = 2, sync: Callable[[], None] | None = None
) -> dict[str, float]:
    """Median seconds of each case's call, over `repeats` interleaved rounds after `warmup` untimed ones."""
    if repeats <= 0:
        raise ValueError(f"repeats must be positive, got {repeats}")
    sync = sync or (lambda: None)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(warmup + repeats):
        for name, fn in cases.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 2) -> str:
    """A Markdown table: floats with `digits` decimals, right-aligned with every numeric column."""
    cells = [[f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    align = ["---:" if all(_numeric(row[i]) for row in cells) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    try:
        float(cell.rstrip(" s×"))
    except ValueError:
        return cell == ""
    return True


def machine_line() -> str:
    """torch version, threads and CPU count, for the header of every result."""
    import os

    threads = torch.get_num_threads()
    return f"torch {torch.__version__}, {threads} thread{'s' * (threads != 1)}, {os.cpu_count()} CPUs"


def add_thread_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice, one per core); 1 gives steadier ratios on a busy machine",
    )


def apply_threads(threads: int | None) -> None:
    if threads is not None:
        if threads <= 0:
            raise ValueError(f"--threads must be positive, got {threads}")
        torch.set_num_threads(threads)
