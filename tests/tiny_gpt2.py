"""A tiny random GPT-2 and its own byte-level BPE tokenizer, saved in `save_pretrained` layout (no download).

generate.py's `--model FOLDER` reads such a folder exactly as it reads a downloaded `gpt2`: config.json,
the weights and the tokenizer files side by side. The tokenizer is trained on a few sentences with the
`tokenizers` library (GPT-2's byte-level scheme: any text encodes), so its vocabulary stays small.

    python -m tests.tiny_gpt2 tiny-gpt2                    # random weights (the parity tests' model)
    python -m tests.tiny_gpt2 tiny-gpt2 --train-steps 300  # fitted to SENTENCES: the README's example output

Random weights make random bytes; a few hundred steps on SENTENCES make a model that recites them, so its
samples show at a glance that prefixes, tokenizer and weights fit together.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

SENTENCES = [
    "The city was quiet when she said goodbye to the old house.",
    "In the morning the river ran fast and the children ran after it.",
    "He said that the machine would never work, and it never did.",
    "A small dog followed us home from the market in the rain.",
    "Once upon a time there was a king who loved to sing.",
    "We walked along the shore and talked about the future.",
]
END_OF_TEXT = "<|endoftext|>"  # GPT-2's one special token: beginning, end and padding at once


def train_tokenizer(vocab_size: int = 1000):
    """A GPT2TokenizerFast whose byte-level BPE was trained on SENTENCES (256 bytes + merges + <|endoftext|>)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(SENTENCES, vocab_size=vocab_size, min_frequency=1, special_tokens=[END_OF_TEXT])
    return GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token=END_OF_TEXT, eos_token=END_OF_TEXT, unk_token=END_OF_TEXT
    )


def tiny_gpt2(vocab_size: int, eos_token_id: int, seed: int = 0, n_positions: int = 64, wide_init: bool = True):
    """A random GPT2LMHeadModel (2 blocks, width 32) in eval mode; the same seed gives the same weights.

    wide_init: weights N(0, 0.3²) rather than GPT-2's N(0, 0.02²), whose near-uniform logits would make
    greedy choices hinge on rounding (a parity test needs clear winners)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    if wide_init:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() == 2:
                    p.normal_(0.0, 0.3)
    return model


def fit(model, tokenizer, steps: int, lr: float = 1e-2) -> None:
    """Train `model` on SENTENCES, each ending in <|endoftext|> (a whole-batch AdamW step at a time).

    Each sentence starts at position 0, as a prefix given to generate.py does: with learned positions, a
    model this small trained on sentences shifted by a leading <|endoftext|> repeats a prefix's last word."""
    rows = [[*tokenizer.encode(s), tokenizer.eos_token_id] for s in SENTENCES]
    width = max(map(len, rows))
    ids = torch.tensor([row + [tokenizer.eos_token_id] * (width - len(row)) for row in rows])
    real = torch.tensor([[True] * len(row) + [False] * (width - len(row)) for row in rows])
    labels = ids.masked_fill(~real, -100)  # padding predicts nothing
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(input_ids=ids, attention_mask=real.long(), labels=labels).loss.backward()
        optimizer.step()
    model.eval()


def save_tiny_gpt2(folder: str | Path, seed: int = 0, train_steps: int = 0) -> Path:
    """Write the tiny model (random, or fitted to SENTENCES for `train_steps`) and its tokenizer to `folder`."""
    folder = Path(folder)
    tokenizer = train_tokenizer()
    model = tiny_gpt2(len(tokenizer), tokenizer.eos_token_id, seed, wide_init=train_steps == 0)
    fit(model, tokenizer, train_steps)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--train-steps", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(save_tiny_gpt2(args.folder, args.seed, args.train_steps))
