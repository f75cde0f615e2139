"""Sample text from a trained CausalLM checkpoint.

    python generate.py --ckpt_path runs/toy_lm/transformer/version_0/checkpoints/last.ckpt \\
        --prompt "the cat " --max-new-tokens 200 --temperature 0.8 --top-k 10 --num-samples 5

--temperature 0 is greedy (deterministic). --top-k keeps the k likeliest tokens, --top-p the smallest set
whose probability reaches p. --seed makes sampling repeat. --no-cache recomputes the whole context at every
step (the same tokens, slower). A character model refuses prompt characters it never saw (the error lists
the ones it knows); a byte model (enwik8) takes any text.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from datamodules.encoders import TextEncoder
from layers.errors import InputError
from lightning_modules.allocator import tune_allocator
from lightning_modules.causal_lm import CausalLM
from lightning_modules.checkpoints import read_checkpoint
from lightning_modules.one_line_errors import input_errors_in_one_line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt_path", required=True, help="a CausalLM checkpoint (train.py saves them under runs/)")
    p.add_argument("--prompt", default="", help="text to continue (default: start from a space)")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute the context at every step")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.max_new_tokens <= 0 or args.num_samples <= 0:
        p.error("--max-new-tokens and --num-samples must be positive")
    return args


def main(argv: list[str] | None = None) -> list[str]:
    args = parse_args(argv)
    with input_errors_in_one_line():
        read_checkpoint(args.ckpt_path)  # one line naming the file when it is truncated, foreign or refused
        model = CausalLM.load_from_checkpoint(args.ckpt_path, map_location=args.device, weights_only=True)
        if model.text_encoder_state is None:
            raise InputError(f"{args.ckpt_path} has no text encoder: it was saved without a data module")
        encoder = TextEncoder.from_state(model.text_encoder_state)
        prompt_ids = encoder.encode(args.prompt or " ")
        prompt = torch.tensor([prompt_ids] * args.num_samples, dtype=torch.long)
        generator = torch.Generator(device=args.device).manual_seed(args.seed)
        start = time.time()
        tokens = model.generate(
            prompt,
            args.max_new_tokens,
            args.temperature,
            args.top_k,
            args.top_p,
            generator,
            use_cache=not args.no_cache,
        )
    seconds = time.time() - start
    samples = [encoder.text(row.tolist()) for row in tokens]
    for i, sample in enumerate(samples):
        print(f"--- sample {i + 1}\n{sample}")
    new = args.max_new_tokens * args.num_samples
    print(f"--- {new} tokens in {seconds:.2f} s ({new / seconds:.0f} tokens/s)", file=sys.stderr)
    return samples


if __name__ == "__main__":
    tune_allocator()  # large tensors stay on the heap (lightning_modules/allocator.py)
    main()
