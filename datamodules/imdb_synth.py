"""IMDb-synth (docs/corpora.md): `this <adjective> <noun> <verb> <very|not> <great|terrible>`, generated from a seed."""

from __future__ import annotations

import torch
from torch import Tensor

from datamodules.classification import ClassificationDataModule, generated_sizes
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


class IMDbSynthDataModule(ClassificationDataModule):
    """`this <adjective> <noun> <verb> <very|not> <great|terrible>`; positive for very great and not terrible.

    Each of the last two words alone says nothing about the label; only their combination does. Generated
    in-process (train from `seed`, validation `seed + 1`, test `seed + 2`); every example has 6 tokens.
    """

    SLOTS = (("this",), ADJECTIVES, NOUNS, VERBS, INTENSIFIERS, VERDICTS)

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
        # Every example is six tokens: max_len says so, and training checks that a model's positions cover them.
        super().__init__(batch_size, eval_batch_size, max_len=6, num_workers=num_workers)
        self.sizes, self.seed = generated_sizes(train_size, val_size, test_size), seed

    def build_encoder(self) -> WordEncoder:
        vocab = Vocabulary(word for slot in self.SLOTS for word in slot)  # a word in two lists: one token
        return WordEncoder(vocab, lower=False, strip_html=False, tokenizer="whitespace")

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n examples: token ids (n, 6) and labels (n,)."""
        columns, choices = [], []
        for slot in self.SLOTS:
            choice = torch.randint(0, len(slot), (n,), generator=generator)
            columns.append(torch.tensor(self.vocab.encode(slot))[choice])
            choices.append(choice)
        very, great = choices[4] == 0, choices[5] == 0
        return torch.stack(columns, dim=1), (very == great).long()  # very great, not terrible → 1

    def setup(self, stage: str | None = None) -> None:
        self.serve_generated(self.generate, self.sizes, self.seed)
