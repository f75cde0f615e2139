"""Forward + backward time of MultiHeadAttention, hand-built and fused, against nn.MultiheadAttention.

    python -m benchmarks.attention                       # B=32 T=256 D=128 H=4, padding mask, CPU
    python -m benchmarks.attention --device cuda --dtype bfloat16
    LAB_DEFAULT_MALLOC=1 python -m benchmarks.attention  # glibc's malloc defaults, as in a user's own script

Every implementation runs on the same inputs with the same weights in this one process; the runs are
interleaved (round-robin) so a noisy neighbour slows all of them alike, and the median of the repeats
is reported as a ratio to nn.MultiheadAttention(need_weights=False), torch's fastest call. The row
"nn.MultiheadAttention (weights)" is torch's default call, which also returns the averaged weights, and
"MultiHeadAttention textbook" the whole-matrix formula (apply_attention) that the manual path takes for small
score matrices and for return_weights=True.

Like the lab's programs, the benchmark keeps large tensors on malloc's heap (lightning_modules/allocator.py);
LAB_DEFAULT_MALLOC=1 leaves glibc's defaults, the allocation policy of any script that uses layers/ directly.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.timing import add_thread_argument, apply_threads, interleaved_medians
from layers.attention import MultiHeadAttention
from lightning_modules import allocator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--repeats", type=int, default=30, help="timed runs per implementation")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    add_thread_argument(p)
    p.add_argument("--no-mask", action="store_true", help="run without the padding mask")
    return p.parse_args(argv)


def build_cases(args: argparse.Namespace) -> dict[str, Callable[[], torch.Tensor]]:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    b, t, d = args.batch, args.seq_len, args.d_model
    reference = nn.MultiheadAttention(d, args.heads, batch_first=True).to(device, dtype)
    manual = MultiHeadAttention(d, args.heads, attn_impl="manual").to(device, dtype)
    fused = MultiHeadAttention(d, args.heads, attn_impl="sdpa").to(device, dtype)
    with torch.no_grad():
        for ours in (manual, fused):
            ours.qkv_proj.weight.copy_(reference.in_proj_weight)
            ours.qkv_proj.bias.copy_(reference.in_proj_bias)
            ours.out_proj.load_state_dict(reference.out_proj.state_dict())

    x = torch.randn(b, t, d, device=device, dtype=dtype, requires_grad=True)
    mask = None
    if not args.no_mask:  # a realistic batch: lengths between T/2 and T, right padding
        lengths = torch.randint(t // 2, t + 1, (b,), device=device)
        mask = torch.arange(t, device=device)[None, :] < lengths[:, None]  # True = real token
    key_padding_mask = None if mask is None else ~mask  # torch's convention: True = ignore

    return {
        "nn.MultiheadAttention": lambda: reference(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)[0],
        "nn.MultiheadAttention (weights)": lambda: reference(x, x, x, key_padding_mask=key_padding_mask)[0],
        "MultiHeadAttention textbook": lambda: textbook(manual, x, mask),
        "MultiHeadAttention manual": lambda: manual(x, mask),
        "MultiHeadAttention sdpa": lambda: fused(x, mask),
    }


def textbook(attention: MultiHeadAttention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The whole-matrix formula through the layer's own public steps."""
    q, k, v = attention.project(x)
    values, _ = attention.apply_attention(q, k, v, mask)
    return attention.out_proj(attention.merge_heads(values))


def run(args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of forward + backward per case."""
    apply_threads(args.threads)
    torch.manual_seed(0)
    cases = build_cases(args)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    steps = {name: (lambda fn=fn: fn().sum().backward()) for name, fn in cases.items()}
    return interleaved_medians(steps, args.repeats, args.warmup, sync)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    medians = run(args)
    reference = medians["nn.MultiheadAttention"]
    print(
        f"MultiHeadAttention forward+backward: B={args.batch} T={args.seq_len} D={args.d_model} "
        f"H={args.heads} "
        f"mask={'none' if args.no_mask else 'padding'} device={args.device} dtype={args.dtype} "
        f"threads={torch.get_num_threads()} torch={torch.__version__}; median of {args.repeats}"
    )
    print(f"allocator: {allocator.describe()}\n")
    print("| implementation | ms | ratio |\n|---|---:|---:|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / reference:.2f} |")


if __name__ == "__main__":
    allocator.tune_allocator()  # large tensors stay on the heap (lightning_modules/allocator.py)
    main()
