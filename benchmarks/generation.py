"""Tokens per second of programs/generate.py's sampling with and without the key/value cache, on random GPT-2 weights.

    python -m benchmarks.generation                          # tiny and GPT-2-small sizes, 64 new tokens
    python -m benchmarks.generation --sizes gpt2-small --new-tokens 256

Each size is a TransformerLM built from a transformers.GPT2Config (no download, random weights: speed does
not depend on what the weights say): `tiny` is tests/tiny_gpt2.py's shape (2 blocks, width 32, 404 tokens)
with GPT-2's 1024 positions, so no sample outgrows its context; `gpt2-small` is GPT2Config()'s defaults
(12 blocks, width 768, 50,257 tokens, 124M parameters).
Both paths sample the same way programs/generate.py does (layers/generation.py, temperature 0.8); without the cache
each new token re-runs the whole context (O(T²) over a sample), with it one position (O(T)). The cases run
interleaved in this one process; each figure is the median of the repeats.
"""

from __future__ import annotations

import argparse
import sys

import torch

from benchmarks.timing import add_thread_argument, apply_threads, interleaved_medians, machine_line, markdown_table
from layers.generation import generate
from layers.transformer import TransformerLM
from lightning_modules import allocator
from networks.pretrained import gpt2_config

SIZES = {
    "tiny": {
        "vocab_size": 404,
        "n_positions": 1024,
        "n_embd": 32,
        "n_layer": 2,
        "n_head": 4,
        "bos_token_id": 0,
        "eos_token_id": 0,
    },
    "gpt2-small": {},  # GPT2Config()'s defaults are GPT-2 small's
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    p.add_argument("--prompt-len", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--batch", type=int, default=1, help="samples generated together")
    p.add_argument("--repeats", type=int, default=3)
    add_thread_argument(p)
    return p.parse_args(argv)


def random_gpt2(size: str) -> TransformerLM:
    from transformers import GPT2Config

    return TransformerLM(gpt2_config(GPT2Config(**SIZES[size]))).eval()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    apply_threads(args.threads)
    cases, models = {}, {}
    for size in args.sizes:
        net = models[size] = random_gpt2(size)
        prompt = torch.randint(0, net.config.vocab_size, (args.batch, args.prompt_len))
        if args.prompt_len + args.new_tokens > net.config.max_len:
            print(f"note: {size} restarts its context past {net.config.max_len} positions", file=sys.stderr)
        for use_cache in (True, False):
            generator = torch.Generator().manual_seed(0)

            def run(net=net, prompt=prompt, use_cache=use_cache, generator=generator) -> None:
                generate(net, prompt, args.new_tokens, 0.8, generator=generator, use_cache=use_cache)

            cases[(size, use_cache)] = run
    medians = interleaved_medians(cases, args.repeats, warmup=1)
    new = args.new_tokens * args.batch
    rows = []
    for size in args.sizes:
        cached, uncached = new / medians[(size, True)], new / medians[(size, False)]
        parameters = sum(p.numel() for p in models[size].parameters()) / 1e6
        rows.append([size, f"{parameters:.1f}M", cached, uncached, f"{cached / uncached:.2f}×"])
    print(f"{machine_line()}; prompt {args.prompt_len} tokens, {args.new_tokens} new, batch {args.batch}")
    print(markdown_table(["model", "parameters", "tokens/s, cache", "tokens/s, no cache", "cache speed-up"], rows, 1))


if __name__ == "__main__":
    allocator.tune_allocator()  # large tensors stay on the heap, as in programs/generate.py
    main()
