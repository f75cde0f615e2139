"""The toy grammar of docs/corpora.md, generated at character level."""

from __future__ import annotations

import math
import random

import torch
from torch import Tensor

from datamodules.encoders import CharEncoder, TextEncoder
from datamodules.lm import LanguageModelDataModule
from datamodules.vocab import Vocabulary


def _words(text: str) -> list[list[str]]:
    return [[w] for w in text.split()]


GRAMMAR: dict[str, list[list[str]]] = {
    "S": [["S", "ADV"], ["NP", "VP"], ["NP", "VP", "PREP", "NP"], ["NP", "VP", "(", "PREP", "NP", ")"],
          ["NP", "VP", "CON", "S"], ["NP", "VP", "(", "CON", "S", ")"]],
    "NP": [["a", "NOUN"], ["the", "NOUN"], ["a", "ADJ", "NOUN"], ["the", "ADJ", "NOUN"]],
    "ADV": _words("briefly quickly impatiently"),
    "PREP": _words("on with to for at"),
    "CON": _words("while but"),
    "NOUN": _words("mouse bunny cat dog man woman person bear koala judge businessman businesswoman lawyer "
                   "teacher engineer"),
    "VP": _words("walked walks ran runs goes went hiked"),
    "ADJ": _words("short quick busy nice gorgeous spectacular reluctant systematic willowy engaged synthetic"),
}  # fmt: skip


def sentence(rng: random.Random) -> tuple[str, float]:
    """One sentence, expanding the leftmost non-terminal first with a uniformly chosen production, and the
    bits of choice it took (Σ log₂ of the number of productions at each expansion)."""
    symbols, words, bits = ["S"], [], 0.0
    while symbols:
        symbol = symbols.pop(0)
        if symbol in GRAMMAR:
            productions = GRAMMAR[symbol]
            symbols = list(rng.choice(productions)) + symbols
            bits += math.log2(len(productions))
        else:
            words.append(symbol)
    return " ".join(words), bits


def generate_text(n_chars: int, seed: int) -> tuple[str, float]:
    """Sentences joined by " . " until there are `n_chars` characters (the last one cut), and the bits of
    choice per character: an upper bound on the entropy rate, the floor a perfect model's bpc reaches."""
    rng = random.Random(seed)
    pieces, length, bits = [], 0, 0.0
    while length < n_chars:
        text, b = sentence(rng)
        length += len(text) + (3 if pieces else 0)  # " . " between sentences
        pieces.append(text)
        bits += b
    return " . ".join(pieces)[:n_chars], bits / length


class ToyGrammarDataModule(LanguageModelDataModule):
    """Character-level text from the toy grammar: `train_chars` for training, `val_chars` for validation
    and as many again for test, each from its own seed. The vocabulary is the special tokens and every
    character of the training text."""

    def __init__(
        self,
        train_chars: int = 100_000,
        val_chars: int = 20_000,
        grammar_seed: int = 0,
        seq_len: int = 128,
        batch_size: int = 32,
        batches_per_epoch: int = 500,
        last_token_batches: int = 1000,
        eval_batch_size: int | None = None,
        seed: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(seq_len, batch_size, batches_per_epoch, last_token_batches, eval_batch_size, seed, num_workers)
        if train_chars <= 0 or val_chars <= 0:
            raise ValueError(f"train_chars and val_chars must be positive, got {train_chars} and {val_chars}")
        self.train_chars, self.val_chars, self.grammar_seed = train_chars, val_chars, grammar_seed
        self.entropy_bound: float | None = None

    def texts(self) -> dict[str, str]:
        sizes = {"train": self.train_chars, "val": self.val_chars, "test": self.val_chars}
        out = {}
        for offset, (split, n) in enumerate(sizes.items()):
            out[split], bits = generate_text(n, self.grammar_seed + offset)
            if split == "train":
                self.entropy_bound = bits
        return out

    def build_encoder(self) -> TextEncoder:
        return CharEncoder(Vocabulary(sorted(set(self.texts()["train"]))))

    def split_tokens(self) -> dict[str, Tensor]:
        encoder = self.text_encoder
        return {split: torch.tensor(encoder.encode_lenient(text)) for split, text in self.texts().items()}
