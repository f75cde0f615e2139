"""A word or character vocabulary with the project's special tokens first.

[PAD] is always 0, then [UNK], [CLS], [SEP], [MASK], then the corpus's own tokens.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class Vocabulary:
    """Token ↔ id maps (`w2i`, `i2w`). Unknown tokens encode to [UNK]."""

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        self.i2w: list[str] = list(SPECIAL_TOKENS)
        self.w2i: dict[str, int] = {w: i for i, w in enumerate(self.i2w)}
        for token in tokens:
            if token not in self.w2i:
                self.w2i[token] = len(self.i2w)
                self.i2w.append(token)

    @classmethod
    def build(cls, texts: Iterable[Sequence[str]], max_size: int | None = None, min_freq: int = 1) -> Vocabulary:
        """The most frequent tokens of tokenised texts (ties broken alphabetically, so builds repeat)."""
        return cls.from_counts(Counter(token for text in texts for token in text), max_size, min_freq)

    @classmethod
    def from_counts(cls, counts: dict[str, int], max_size: int | None = None, min_freq: int = 1) -> Vocabulary:
        """The most frequent of counted tokens, ties broken alphabetically."""
        ranked = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(SPECIAL_TOKENS))]
        return cls(ranked)

    def __len__(self) -> int:
        return len(self.i2w)

    def __contains__(self, token: str) -> bool:
        return token in self.w2i

    @property
    def pad_id(self) -> int:
        return self.w2i["[PAD]"]

    @property
    def unk_id(self) -> int:
        return self.w2i["[UNK]"]

    @property
    def cls_id(self) -> int:
        return self.w2i["[CLS]"]

    @property
    def sep_id(self) -> int:
        return self.w2i["[SEP]"]

    @property
    def mask_id(self) -> int:
        return self.w2i["[MASK]"]

    @property
    def special_ids(self) -> list[int]:
        return [self.w2i[t] for t in SPECIAL_TOKENS]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        unk = self.unk_id
        return [self.w2i.get(t, unk) for t in tokens]

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> list[str]:
        specials = set(self.special_ids) if skip_special else set()
        return [self.i2w[i] for i in ids if i not in specials]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.i2w, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        i2w = json.loads(Path(path).read_text())
        if tuple(i2w[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"{path} is not a vocabulary of this project (special tokens missing)")
        return cls(i2w[len(SPECIAL_TOKENS) :])
