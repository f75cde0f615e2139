"""Pretrained word vectors (GloVe's text format: `word v1 v2 … vD` per line, plain or .gz) into an embedding."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from lab_errors import InputError


@dataclass
class VectorReport:
    """What loading found: how many vocabulary words had a vector, and a few that did not."""

    found: int
    total: int
    dim: int
    missing_examples: list[str]

    def __str__(self) -> str:
        missing = self.total - self.found
        examples = ", ".join(repr(w) for w in self.missing_examples)
        return (
            f"word vectors: {self.found} of {self.total} vocabulary words found ({self.found / self.total:.1%}); "
            f"{missing} missing start random" + (f" (e.g. {examples})" if missing else "")
        )


def read_word_vectors(path: str | Path, words: list[str]) -> tuple[Tensor, Tensor]:
    """Vectors for `words` from a GloVe-format file: (len(words), D) values and a (len(words),) found mask.

    A word is matched exactly, else in lower case. Rows of words the file lacks are zero. Only the
    vocabulary's rows are kept, so a 400k-word file costs one pass, not 400k tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"word vectors not found: {path}")
    rows: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        rows.setdefault(word, []).append(i)
    pending_lower = {w.lower(): w for w in words if w.lower() not in rows}
    vectors: Tensor | None = None
    found = torch.zeros(len(words), dtype=torch.bool)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as lines:  # -sig: not part of the first word
        for number, line in enumerate(lines, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            targets = rows.get(word) or (rows.get(pending_lower[word]) if word in pending_lower else None)
            if not targets:
                continue
            try:
                values = torch.tensor([float(v) for v in rest.split(" ")])
            except ValueError as err:
                raise InputError(f"{path}:{number}: not a word followed by numbers") from err
            if vectors is None:
                vectors = torch.zeros(len(words), len(values))
            if len(values) != vectors.shape[1]:
                raise InputError(f"{path}:{number}: {len(values)} values where earlier lines had {vectors.shape[1]}")
            for i in targets:
                if not found[i]:  # the first (most frequent) entry of a word wins
                    vectors[i], found[i] = values, True
    if vectors is None:
        raise InputError(f"{path}: none of the {len(words)} vocabulary words has a vector in this file")
    return vectors, found


def load_word_vectors(
    embedding: nn.Embedding, path: str | Path, words: list[str], skip: set[int] = frozenset()
) -> VectorReport:
    """Copy vectors into `embedding`'s rows; rows without a vector get N(0, σ²) with σ the vectors' own
    standard deviation (so the two kinds of rows have one scale); `skip` rows (special tokens such as [PAD])
    are left as they are and not counted."""
    vectors, found = read_word_vectors(path, words)
    if vectors.shape[1] != embedding.embedding_dim:
        raise InputError(
            f"{path} holds {vectors.shape[1]}-d vectors but the embedding is "
            f"{embedding.embedding_dim}-d: set d_model to {vectors.shape[1]}"
        )
    if len(words) != embedding.num_embeddings:
        raise ValueError(f"{len(words)} vocabulary words for an embedding of {embedding.num_embeddings} rows")
    std = vectors[found].std().item() if found.sum() > 1 else 1.0
    with torch.no_grad():
        weight = embedding.weight
        rows = torch.tensor([i for i in range(len(words)) if i not in skip], dtype=torch.long)
        fresh = torch.randn(len(words), vectors.shape[1]) * std
        filled = torch.where(found[:, None], vectors, fresh)
        weight[rows] = filled[rows].to(weight.dtype)
    missing = [w for i, w in enumerate(words) if not found[i] and i not in skip]
    return VectorReport(
        int(found[[i not in skip for i in range(len(words))]].sum()),
        len(words) - len(skip),
        vectors.shape[1],
        missing[:8],
    )


class WordVectorStart:
    """A mixin for encoders whose token embedding (`tok_emb`) may start from pretrained word vectors.

    The rows are the data module's vocabulary, which the encoder never sees: the classifier's training calls
    `load_vectors` with the data's words when a fit starts (lightning_modules/classifier.py). Special tokens
    ([PAD], [CLS], …) have no vectors to find and keep their own initialisation. `freeze_embeddings` keeps the
    vectors fixed (no gradient), as the averaged-embedding baselines do.
    """

    tok_emb: nn.Embedding
    word_vectors: str | None = None

    def start_from_word_vectors(self, path: str | None, freeze: bool) -> None:
        """Called by the encoder's constructor once `tok_emb` exists."""
        self.word_vectors = path
        if freeze and path is None:
            raise InputError("freeze_embeddings needs word_vectors: a frozen random embedding learns nothing")
        self.tok_emb.weight.requires_grad_(not freeze)

    def load_vectors(self, words: list[str], special_ids: list[int]) -> VectorReport | None:
        """Copy the file's vectors into the rows of `words`; None when this encoder starts from none."""
        if self.word_vectors is None:
            return None
        return load_word_vectors(self.tok_emb, self.word_vectors, words, skip=set(special_ids))
