"""The generated classification corpora of SYNTHETIC.md: XOR and IMDb-synth.

Both are generated in-process from a seed (train uses `seed`, validation `seed + 1`, test `seed + 2`), so
the project's main job needs no download. Every example has the same length, so batches carry no padding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from datamodules.base import ClassificationDataModule
from datamodules.collate import TokenDataset
from datamodules.encoders import WordEncoder
from datamodules.vocab import Vocabulary

ADJECTIVES = (
    "classic",
    "silent",
    "modern",
    "vintage",
    "independent",
    "foreign",
    "animated",
    "documentary",
    "epic",
    "dramatic",
    "romantic",
    "comic",
    "thrilling",
    "mysterious",
    "gritty",
    "stylized",
    "iconic",
    "acclaimed",
    "popular",
    "forgettable",
    "unreleased",
    "awardwinning",
    "blockbuster",
    "lowbudget",
    "highbudget",
    "experimental",
    "mainstream",
    "cult",
    "notable",
    "original",
)
NOUNS = (
    "movie",
    "film",
    "motion-picture",
    "feature",
    "featurette",
    "picture",
    "flick",
    "cinema",
    "screenplay",
    "blockbuster",
    "talkie",
    "silent",
    "biopic",
    "short",
    "docudrama",
    "documentary",
    "animation",
    "cartoon",
    "anime",
    "telefilm",
    "miniseries",
    "drama",
    "comedy",
    "thriller",
    "western",
    "musical",
    "noir",
)
VERBS = (
    "was",
    "is",
    "became",
    "becomes",
    "seemed",
    "seems",
)
INTENSIFIERS = ("very", "not")
VERDICTS = ("great", "terrible")


class SyntheticDataModule(ClassificationDataModule):
    """Shared by the generated corpora: sizes, seeds, and one generator call per split."""

    def __init__(
        self,
        train_size: int = 25_000,
        val_size: int = 25_000,
        test_size: int = 25_000,
        seed: int = 0,
        batch_size: int = 32,
        eval_batch_size: int | None = 1024,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers=num_workers)
        for name, size in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if size <= 0:
                raise ValueError(f"{name} must be positive, got {size}")
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.seed = seed

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n examples: token ids (n, T) and labels (n,)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        for offset, split in enumerate(("train", "val", "test")):
            if split not in self.datasets:
                ids, labels = self.generate(self.sizes[split], torch.Generator().manual_seed(self.seed + offset))
                self.datasets[split] = TokenDataset(ids, labels)


class XORDataModule(SyntheticDataModule):
    """Two tokens from {true, false}; label 1 when they differ, 0 when they are the same."""

    def build_encoder(self) -> WordEncoder:
        return WordEncoder(Vocabulary(["true", "false"]), lower=False, strip_html=False, tokenizer="whitespace")

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        words = torch.tensor([self.vocab.w2i["true"], self.vocab.w2i["false"]])
        choice = torch.randint(0, 2, (n, 2), generator=generator)  # (n, 2): 0 = true, 1 = false
        return words[choice], (choice[:, 0] != choice[:, 1]).long()


class IMDbSynthDataModule(SyntheticDataModule):
    """`this <adjective> <noun> <verb> <very|not> <great|terrible>`; positive for very great and not terrible.

    Each of the last two words alone says nothing about the label; only their combination does.
    """

    SLOTS = (("this",), ADJECTIVES, NOUNS, VERBS, INTENSIFIERS, VERDICTS)

    def build_encoder(self) -> WordEncoder:
        vocab = Vocabulary(word for slot in self.SLOTS for word in slot)  # a word in two lists: one token
        return WordEncoder(vocab, lower=False, strip_html=False, tokenizer="whitespace")

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        columns, choices = [], []
        for slot in self.SLOTS:
            choice = torch.randint(0, len(slot), (n,), generator=generator)
            columns.append(torch.tensor(self.vocab.encode(slot))[choice])
            choices.append(choice)
        very, great = choices[4] == 0, choices[5] == 0
        return torch.stack(columns, dim=1), (very == great).long()  # very great, not terrible → 1
