"""Forward + backward time and peak memory of self-attention against sequence length, hand-built and fused.

    python -m benchmarks.attention_scaling                 # causal, T = 128 … 2048, B=4 D=128 H=4 (~2 min)
    python -m benchmarks.attention_scaling --bidirectional # an encoder's attention over a right-padded batch
    LAB_DEFAULT_MALLOC=1 python -m benchmarks.attention_scaling --bidirectional   # glibc's malloc defaults

MultiHeadAttention(causal=True), same weights and inputs, three ways: the textbook formula with the whole
(B, H, T, T) score matrix materialised (apply_attention, what the manual path computes for T ≤ 128 and
whenever weights are asked for); attn_impl="manual" (for T above two blocks of 64 queries, the
block-by-block form of layers/causal_attention.py, which skips the masked triangle); and attn_impl="sdpa" (torch's fused
kernel). With --bidirectional the attention is an encoder's, over a batch whose lengths spread over T/2 … T
(right padding), and the manual path is the tiled form of layers/blocked_attention.py, which keeps no (T, T)
matrix for the backward. Time: median of interleaved runs in this process. Memory: each point runs once more in a fresh
process, which reports its peak resident memory above what it held before the forward pass (the CPU has no
allocator statistics like CUDA's max_memory_allocated).
Prints a Markdown table and writes the chart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.attention import textbook
from benchmarks.timing import add_thread_argument, apply_threads, interleaved_medians, machine_line, markdown_table
from layers.attention import MultiHeadAttention
from lightning_modules import allocator

IMPLS = ("full", "manual", "sdpa")
LABELS = {
    "full": "hand-built, whole score matrix",
    "manual": 'hand-built, causal blocks (attn_impl="manual")',
    "sdpa": 'fused (attn_impl="sdpa")',
}
BIDIRECTIONAL_LABELS = {**LABELS, "manual": 'hand-built, tiles (attn_impl="manual")'}
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "figures" / "attention_scaling.png"
BIDIRECTIONAL_OUT = ROOT / "docs" / "figures" / "attention_scaling_bidirectional.png"


def case(impl: str, batch: int, seq_len: int, d_model: int, heads: int, bidirectional: bool = False):
    torch.manual_seed(0)
    manual_or_sdpa = "manual" if impl == "full" else impl
    attention = MultiHeadAttention(d_model, heads, causal=not bidirectional, attn_impl=manual_or_sdpa)
    x = torch.randn(batch, seq_len, d_model, requires_grad=True)
    mask = None
    if bidirectional:  # lengths spread over T/2 … T, right padding, as in benchmarks/attention.py
        lengths = torch.randint(seq_len // 2, seq_len + 1, (batch,))
        mask = torch.arange(seq_len)[None, :] < lengths[:, None]  # True = real token
    if impl == "full":  # the textbook path, through the layer's own public steps
        return lambda: textbook(attention, x, mask).sum().backward()
    return lambda: attention(x, mask).sum().backward()


def memory_status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in MB, from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_point(impl: str, batch: int, seq_len: int, d_model: int, heads: int, bidirectional: bool) -> float:
    """MB of peak resident memory above the state before one forward + backward (run in a fresh process).

    VmHWM belongs to this process's own address space; getrusage's ru_maxrss would not do, since Linux carries
    the parent's peak over into a child.
    """
    step = case(impl, batch, seq_len, d_model, heads, bidirectional)
    before = memory_status_mb("VmRSS")
    step()
    return memory_status_mb("VmHWM") - before


def peak_memory(impl: str, args: argparse.Namespace, seq_len: int) -> float:
    cmd = [sys.executable, "-m", "benchmarks.attention_scaling", "--memory-point", impl, str(seq_len)]
    cmd += ["--batch", str(args.batch), "--d-model", str(args.d_model), "--heads", str(args.heads)]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--bidirectional"] if args.bidirectional else []
    # The child imports this copy of the package, whatever folder the benchmark was started from.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)["mb"]


def plot(results: dict[str, dict[int, tuple[float, float]]], args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(10, 4))
    labels = BIDIRECTIONAL_LABELS if args.bidirectional else LABELS
    for impl, points in results.items():
        ts = sorted(points)
        ax_time.plot(ts, [points[t][0] for t in ts], marker="o", label=labels[impl])
        ax_mem.plot(ts, [points[t][1] for t in ts], marker="o", label=labels[impl])
    for ax, ylabel in ((ax_time, "forward + backward, ms"), (ax_mem, "peak memory above inputs, MB")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    note = f"; {args.note}" if args.note else ""
    title = f"{describe(args)}\nCPU: {machine_line()}; malloc: {allocator.describe()}{note}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seq-lens", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5, help="timed runs per point")
    p.add_argument("--bidirectional", action="store_true", help="an encoder's attention over a padded batch")
    p.add_argument("--out", type=Path, help=f"the chart (PNG); default {DEFAULT_OUT.name}, or {BIDIRECTIONAL_OUT.name}")
    p.add_argument("--note", default="", help='added to the chart\'s title, e.g. "measured under load"')
    p.add_argument("--memory-point", nargs=2, metavar=("IMPL", "T"), help=argparse.SUPPRESS)  # child process
    add_thread_argument(p)
    return p.parse_args(argv)


def describe(args: argparse.Namespace) -> str:
    kind = "Self-attention over a padded batch" if args.bidirectional else "Causal self-attention"
    return f"{kind}, forward + backward, B={args.batch} D={args.d_model} H={args.heads}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    apply_threads(args.threads)
    if args.memory_point:
        impl, seq_len = args.memory_point
        point = peak_memory_point(impl, args.batch, int(seq_len), args.d_model, args.heads, args.bidirectional)
        print(json.dumps({"mb": point}))
        return
    results: dict[str, dict[int, tuple[float, float]]] = {impl: {} for impl in IMPLS}
    for seq_len in args.seq_lens:
        cases = {impl: case(impl, args.batch, seq_len, args.d_model, args.heads, args.bidirectional) for impl in IMPLS}
        medians = interleaved_medians(cases, args.repeats, warmup=1)
        for impl in IMPLS:
            results[impl][seq_len] = (medians[impl] * 1e3, peak_memory(impl, args, seq_len))
    print(describe(args))
    print(f"{machine_line()}; allocator: {allocator.describe()}; median of {args.repeats}\n")
    rows = []
    for t in args.seq_lens:
        (f_ms, f_mb), (m_ms, m_mb), (s_ms, s_mb) = (results[impl][t] for impl in IMPLS)
        times = [f"{f_ms:.1f}", f"{m_ms:.1f}", f"{s_ms:.1f}", m_ms / s_ms]
        rows.append([t, *times, f"{f_mb:.0f}", f"{m_mb:.0f}", f"{s_mb:.0f}", m_mb / max(s_mb, 1)])
    header = ["T", "whole ms", "manual ms", "sdpa ms", "manual/sdpa time", "whole MB", "manual MB", "sdpa MB"]
    header += ["manual/sdpa memory"]
    print(markdown_table(header, rows))
    out = args.out or (BIDIRECTIONAL_OUT if args.bidirectional else DEFAULT_OUT)
    plot(results, args, out)
    print(f"\nchart: {out}")


if __name__ == "__main__":
    allocator.tune_allocator()  # large tensors stay on the heap (lightning_modules/allocator.py)
    main()
