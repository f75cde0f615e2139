"""Forward + backward time of the hand-built LSTM against nn.LSTM, on the same weights and inputs.

    python -m benchmarks.lstm                       # B=32 T=256 input 256 hidden 256, no padding (~1 min)
    python -m benchmarks.lstm --mask                # with a right-padding mask (nn.LSTM then packs)

layers.recurrent.LSTM runs the gate equations step by step in Python (one addmm and a few pointwise ops per
step); nn.LSTM runs torch's fused kernel. The two run interleaved in this one process; each figure is the
median of the repeats, as a ratio to nn.LSTM.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.timing import add_thread_argument, apply_threads, interleaved_medians, machine_line, markdown_table
from layers.recurrent import build_lstm, run_lstm
from lightning_modules import allocator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--mask", action="store_true", help="right padding, lengths between T/2 and T")
    add_thread_argument(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    apply_threads(args.threads)
    torch.manual_seed(0)
    reference = build_lstm("torch", args.input_size, args.hidden)
    manual = build_lstm("manual", args.input_size, args.hidden)
    manual.load_state_dict(reference.state_dict())  # same parameter names and shapes
    x = torch.randn(args.batch, args.seq_len, args.input_size, requires_grad=True)
    mask = None
    if args.mask:
        lengths = torch.randint(args.seq_len // 2, args.seq_len + 1, (args.batch,))
        mask = torch.arange(args.seq_len)[None, :] < lengths[:, None]  # (B, T), True = real step
    cases = {
        "nn.LSTM": lambda: run_lstm(reference, x, mask)[0].sum().backward(),
        "layers.recurrent.LSTM (hand-built)": lambda: run_lstm(manual, x, mask)[0].sum().backward(),
    }
    medians = interleaved_medians(cases, args.repeats, warmup=2)
    base = medians["nn.LSTM"]
    print(
        f"LSTM forward + backward, B={args.batch} T={args.seq_len} input={args.input_size} hidden={args.hidden} "
        f"mask={'padding' if args.mask else 'none'}; median of {args.repeats}"
    )
    print(f"{machine_line()}; allocator: {allocator.describe()}\n")
    print(
        markdown_table(["implementation", "ms", "ratio"], [[n, f"{s * 1e3:.1f}", s / base] for n, s in medians.items()])
    )


if __name__ == "__main__":
    allocator.tune_allocator()  # large tensors stay on the heap (lightning_modules/allocator.py)
    main()
