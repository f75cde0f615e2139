"""Sample text from a trained CausalLM checkpoint, or from GPT-2 weights in the hand-built TransformerLM.

    python -m programs.generate --ckpt_path runs/toy_lm/transformer/version_0/checkpoints/last.ckpt \\
        --prompt "the cat " --max-new-tokens 200 --temperature 0.8 --top-k 10 --num-samples 5
    python -m programs.generate --model gpt2 --prefixes configs/prefixes/two_words.txt --num-samples 5 \\
        --out samples.md

--model takes a Hugging Face hub name (`gpt2`, `gpt2-medium`, ...) or a local folder in save_pretrained
layout (config.json, weights, tokenizer files); its weights run in layers/ TransformerLM with the model's own
tokenizer, and a sample ends at its end-of-text token. A hub name that is neither cached nor reachable fails
in seconds (HF_HUB_OFFLINE=1 skips the network entirely).

--prompt continues one text (default: a space for a lab model, GPT-2's <|endoftext|> for a hub model);
--prefixes FILE continues every non-blank line of FILE --num-samples times (default 5) and writes a Markdown
table (prefix | sample) to stdout or --out. --temperature 0 is greedy (deterministic). --top-k keeps the k
likeliest tokens, --top-p the smallest set whose probability reaches p. --seed makes sampling repeat.
--no-cache recomputes the whole context at every step (the same tokens, slower). A character model refuses
prompt characters it never saw (the error lists the ones it knows); a byte model (enwik8) takes any text.
`pip install .` also installs this command as `lab-generate`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lab_errors import InputError, MissingInputError, first_line
from layers.generation import check_sampling, generate
from layers.transformer import TransformerLM
from lightning_modules.allocator import tune_allocator
from lightning_modules.one_line_errors import input_errors_in_one_line


@dataclass
class LanguageModel:
    """A TransformerLM (eval mode) with the text codec it was trained with."""

    net: TransformerLM
    encode: Callable[[str], list[int]]  # text → ids (an empty text gets the model's start)
    decode: Callable[[list[int]], str]
    end_token: int | None  # a sample stops before it (GPT-2's <|endoftext|>); None: samples run to length


def load_checkpoint_model(ckpt_path: str, device: str) -> LanguageModel:
    """A CausalLM checkpoint of this lab, with the text encoder its data module saved in it."""
    from lightning_modules.causal_lm import CausalLM
    from lightning_modules.loading import load_model

    # One line naming the file when it is truncated, foreign, refused or another task's (e.g. a classifier's).
    model = load_model(ckpt_path, CausalLM, device)
    encoder = model.text_encoder
    if encoder is None:
        raise InputError(f"{ckpt_path} has no text encoder: it was saved without a data module")
    return LanguageModel(model.net.eval(), lambda text: encoder.encode(text or " "), encoder.text, None)


def load_pretrained_model(name_or_dir: str, device: str) -> LanguageModel:
    """GPT-2 weights (hub name or save_pretrained folder) copied into a TransformerLM, with their tokenizer."""
    from transformers import AutoTokenizer, GPT2LMHeadModel
    from transformers.utils import logging

    from networks.hub import resolve_pretrained
    from networks.pretrained import GPT2_MODEL_TYPES, load_gpt2

    logging.disable_progress_bar()  # stderr keeps to the timing line, or an error's one line
    source = resolve_pretrained(name_or_dir, GPT2_MODEL_TYPES)  # resolved once: the model and its tokenizer
    net = load_gpt2(source.load(GPT2LMHeadModel)).eval().to(device)
    tokenizer = source.load(AutoTokenizer)
    vocab_size = net.config.vocab_size
    if not 1 < len(tokenizer) <= vocab_size:  # without tokenizer files, transformers builds an empty one
        raise InputError(
            f"{name_or_dir}: its tokenizer has {len(tokenizer)} tokens for a model of {vocab_size}: the "
            f"model's own tokenizer files are missing (tokenizer.json, or vocab.json and merges.txt)"
        )
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id

    def encode(text: str) -> list[int]:
        if text:
            return tokenizer.encode(text)
        if start is None:
            raise InputError(f"{name_or_dir}'s tokenizer has no start token: give a --prompt")
        return [start]  # GPT-2 was trained on documents separated by <|endoftext|>: a fresh one starts after it

    def decode(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=True)

    return LanguageModel(net, encode, decode, tokenizer.eos_token_id)


def continuations(
    lm: LanguageModel, prompt_ids: list[int], n: int, args: argparse.Namespace, generator: torch.Generator
) -> list[list[int]]:
    """`n` continuations of one prompt: each the new token ids, cut before the first end token."""
    prompt = torch.tensor([prompt_ids] * n, dtype=torch.long, device=args.device)
    tokens = generate(
        lm.net,
        prompt,
        args.max_new_tokens,
        args.temperature,
        args.top_k,
        args.top_p,
        generator,
        use_cache=not args.no_cache,
    )
    rows = [row[len(prompt_ids) :].tolist() for row in tokens]
    if lm.end_token is None:
        return rows
    return [row[: row.index(lm.end_token)] if lm.end_token in row else row for row in rows]


def read_prefixes(path: str) -> list[str]:
    """The non-blank lines of a prefix file, as written (only the line break removed)."""
    file = Path(path)
    if not file.is_file():
        raise MissingInputError(f"{path}: no such prefix file (one prefix per line)")
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()  # -sig: a byte-order mark is no prefix
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    prefixes = [line for line in lines if line.strip()]
    if not prefixes:
        raise InputError(f"{path} holds no prefix: write one prefix per line")
    return prefixes


def markdown_cell(text: str) -> str:
    """Text that stays inside one cell of a Markdown table: `|` escaped, line breaks as <br>."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def markdown_table(rows: list[tuple[str, str]]) -> str:
    lines = ["| prefix | sample |", "|---|---|"]
    lines += [f"| {markdown_cell(prefix)} | {markdown_cell(sample)} |" for prefix, sample in rows]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt_path", help="a CausalLM checkpoint (train.py saves them under runs/)")
    source.add_argument("--model", help="a GPT-2 hub name (gpt2) or a local save_pretrained folder")
    text = p.add_mutually_exclusive_group()
    text.add_argument("--prompt", default="", help="text to continue (default: the model's start)")
    text.add_argument("--prefixes", help="a file of prefixes, one per line: writes a Markdown table")
    p.add_argument("--out", help="write the samples here instead of stdout")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--num-samples", type=int, default=None, help="per prompt (default 1, or 5 with --prefixes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cache", action="store_true", help="recompute the context at every step")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.num_samples is None:
        args.num_samples = 5 if args.prefixes else 1
    if args.max_new_tokens <= 0 or args.num_samples <= 0:
        p.error("--max-new-tokens and --num-samples must be positive")
    return args


def main(argv: list[str] | None = None) -> list[str]:
    """Prints (or writes to --out) the samples; returns each whole text, prompt included."""
    args = parse_args(argv)
    with input_errors_in_one_line():
        try:  # before a model loads, which can take minutes
            check_sampling(args.temperature, args.top_k, args.top_p)
        except ValueError as err:  # the layers' own check, of values the user gave
            raise InputError(first_line(err)) from err
        prompts = read_prefixes(args.prefixes) if args.prefixes else [args.prompt]
        if args.out and not Path(args.out).parent.is_dir():  # before minutes of sampling, not after
            raise MissingInputError(f"{args.out} (--out): its folder does not exist")
        if args.ckpt_path:
            lm = load_checkpoint_model(args.ckpt_path, args.device)
        else:
            lm = load_pretrained_model(args.model, args.device)
        generator = torch.Generator(device=args.device).manual_seed(args.seed)
        start = time.time()
        rows, texts = [], []
        for prompt in prompts:
            prompt_ids = lm.encode(prompt)
            for new_ids in continuations(lm, prompt_ids, args.num_samples, args, generator):
                rows.append((prompt, lm.decode(new_ids)))
                texts.append(lm.decode(prompt_ids + new_ids))
        seconds = time.time() - start
    if args.prefixes:
        output = markdown_table(rows)
    else:
        output = "".join(f"--- sample {i + 1}\n{text}\n" for i, text in enumerate(texts))
    if args.out:
        Path(args.out).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    new = args.max_new_tokens * args.num_samples * len(prompts)
    print(f"--- {new} tokens in {seconds:.2f} s ({new / seconds:.0f} tokens/s)", file=sys.stderr)
    return texts


def run() -> None:
    """The program behind `python -m programs.generate` and the `lab-generate` command: the process's allocation
    policy first (lightning_modules/allocator.py; a program's choice, so not in main(), which tests call
    in-process), then main(), whose returned texts a console script would take for an exit status."""
    tune_allocator()  # large tensors stay on the heap
    main()


if __name__ == "__main__":
    run()
