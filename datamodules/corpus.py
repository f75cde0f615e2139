"""Real text corpora: raw (text, label) splits read once, tokenised once, cached, then served as ids.

A subclass says where its text comes from (`source`, `read`), what else changes the prepared result
(`settings`), and how text becomes ids (`build`). The first run prepares the corpus and caches it
(datamodules/cache.py); later runs with the same settings load the cache in seconds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from tqdm.auto import tqdm

from datamodules import cache
from datamodules.base import ClassificationDataModule
from datamodules.collate import TokenDataset
from datamodules.encoders import TextEncoder, WordEncoder
from datamodules.readers import read_texts
from datamodules.vocab import Vocabulary

RawSplits = dict[str, tuple[list[str], list[int]]]


class TextCorpusDataModule(ClassificationDataModule):
    name = "corpus"

    def __init__(
        self,
        cache_dir: str = ".cache/datamodules",
        val_size: int = 2500,
        split_seed: int = 0,
        predict_path: str | None = None,
        max_len: int | None = 256,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: bool = True,
        num_workers: int = 0,
        pad_to_max_len: bool = False,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, max_len, bucket, num_workers, pad_to_max_len)
        if val_size < 0:
            raise ValueError(f"val_size must be ≥ 0, got {val_size}")
        self.cache_dir, self.val_size, self.split_seed = Path(cache_dir), val_size, split_seed
        self.predict_path = predict_path
        self.predict_texts: list[str] = []
        self._ids: dict[str, tuple[list[torch.Tensor], torch.Tensor]] | None = None

    # What subclasses provide.
    def source(self) -> dict[str, Any]:
        """Identifies what `read` reads (a local file's fingerprint, or a hub name)."""
        raise NotImplementedError

    def read(self) -> RawSplits:
        """Raw texts and labels (1 = positive) for "train" and "test", and "val" if the corpus has one."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Everything besides the source that changes the prepared corpus."""
        raise NotImplementedError

    def build(self, raw: RawSplits) -> tuple[TextEncoder, dict[str, list[list[int]]]]:
        """Fit the encoder on raw["train"] only, and encode every split."""
        raise NotImplementedError

    # Preparation and caching.
    def carve_validation(self, raw: RawSplits) -> RawSplits:
        """A validation split from the training one, chosen by `split_seed`; test stays untouched."""
        if "val" in raw:
            return raw
        texts, labels = raw["train"]
        if not 0 < self.val_size < len(texts):
            raise ValueError(f"val_size={self.val_size} must be between 1 and the {len(texts)} training examples")
        order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        pick = lambda idx: ([texts[i] for i in idx], [labels[i] for i in idx])  # noqa: E731
        return {**raw, "train": pick(order[self.val_size :]), "val": pick(order[: self.val_size])}

    def cached(self) -> Path:
        """The cache folder of the prepared corpus, preparing and caching it first if needed."""
        key = {
            "corpus": self.name,
            "source": self.source(),
            "val_size": self.val_size,
            "split_seed": self.split_seed,
            **self.settings(),
        }
        folder = self.cache_dir / f"{self.name}-{cache.cache_key(key)}"
        with cache.locked(folder):
            if not (folder / "meta.json").exists():
                start = time.time()
                raw = self.carve_validation(self.read())
                encoder, ids = self.build(raw)
                tensors = {split: {**cache.pack(ids[split]), "labels": torch.tensor(raw[split][1])} for split in ids}
                cache.save(folder, {"key": key, "encoder": encoder.state_dict()}, tensors)
                sizes = ", ".join(f"{len(v)} {k}" for k, v in ids.items())
                rank_zero_info(
                    f"{self.name} prepared in {time.time() - start:.0f} s ({sizes}, "
                    f"vocabulary {encoder.vocab_size}); cached in {folder}"
                )
        return folder

    def prepare(self) -> None:
        """Load the prepared corpus (see `cached`) into this data module."""
        if self._ids is not None:
            return
        meta, tensors = cache.load(self.cached())  # cache folders appear whole (renamed into place)
        self._encoder = TextEncoder.from_state(meta["encoder"])
        self._ids = {split: (cache.unpack(t), t["labels"]) for split, t in tensors.items()}

    def build_encoder(self) -> TextEncoder:
        self.prepare()
        return self._encoder

    def prepare_data(self) -> None:
        self.cached()  # read, tokenise and cache once (on one process); nothing is assigned here

    def setup(self, stage: str | None = None) -> None:
        self.prepare()
        for split, (ids, labels) in self._ids.items():
            self.datasets[split] = TokenDataset(ids, labels)
        if stage == "predict" and self.predict_path:
            self.predict_texts = read_texts(Path(self.predict_path))
            encoded = [self.text_encoder.encode(t) for t in self.predict_texts]
            self.datasets["predict"] = TokenDataset(encoded)


class WordCorpusDataModule(TextCorpusDataModule):
    """Word-level corpora: cleaning, spaCy tokens, a vocabulary from the training split only."""

    def __init__(
        self,
        lower: bool = True,
        strip_html: bool = True,
        tokenizer: str = "auto",
        max_vocab: int | None = 20_000,
        min_freq: int = 2,
        add_cls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_vocab is not None and max_vocab <= len(Vocabulary()):
            raise ValueError(f"max_vocab must exceed the {len(Vocabulary())} special tokens, got {max_vocab}")
        self.lower, self.strip_html, self.tokenizer, self.add_cls = lower, strip_html, tokenizer, add_cls
        self.max_vocab, self.min_freq = max_vocab, min_freq

    def settings(self) -> dict[str, Any]:
        encoder = WordEncoder(Vocabulary(), self.lower, self.strip_html, self.tokenizer)
        tokenizer = "whitespace" if encoder.tokenizer is None else encoder.tokenizer.name
        return {
            "lower": self.lower,
            "strip_html": self.strip_html,
            "tokenizer": tokenizer,
            "max_vocab": self.max_vocab,
            "min_freq": self.min_freq,
            "add_cls": self.add_cls,
        }

    def build(self, raw: RawSplits) -> tuple[TextEncoder, dict[str, list[list[int]]]]:
        encoder = WordEncoder(Vocabulary(), self.lower, self.strip_html, self.tokenizer, self.add_cls)
        tokens = {
            split: list(
                tqdm(encoder.tokens(texts), total=len(texts), desc=f"tokenising {self.name} {split}", disable=None)
            )
            for split, (texts, _) in raw.items()
        }
        encoder.vocab = Vocabulary.build(tokens["train"], self.max_vocab, self.min_freq)  # train only
        return encoder, {split: [encoder.encode_tokens(t) for t in toks] for split, toks in tokens.items()}
