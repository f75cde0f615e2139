"""Yelp review polarity (Zhang et al., 2015), sub-word level: a BERT WordPiece tokenizer, or one trained here.

How a review becomes a batch: `read` (datamodules/readers.py) → a `datasets.Dataset` per split, cached →
validation carved from train → the tokenizer (pretrained, or a WordPiece fitted on the training texts) →
ids (`Dataset.map`; the `tokenizers` library runs its own threads on every core) → fixed-length batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tokenizers
from datasets import Dataset
from lightning.pytorch.utilities import rank_zero_info

from datamodules.classification import ClassificationDataModule
from datamodules.encoders import SubwordEncoder, TextEncoder
from datamodules.preparation import (
    Encode,
    cached_encoder,
    carve_validation,
    digest,
    encode,
    fingerprint,
    read_splits,
)
from datamodules.readers import Split, read_hub, read_labelled_file
from datamodules.vocab import SPECIAL_TOKENS
from lab_errors import InputError, MissingInputError


def train_wordpiece(texts: list[str], vocab_size: int, lowercase: bool = True) -> tokenizers.Tokenizer:
    """A BERT-style WordPiece tokenizer fitted to `texts` with the `tokenizers` library:
    BERT normalisation and pre-tokenisation, the project's special tokens first ([PAD] = 0), and
    [CLS] … [SEP] around every text."""
    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = tokenizers.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def pretrained_wordpiece(name: str) -> tokenizers.Tokenizer:
    """The fast tokenizer behind `AutoTokenizer.from_pretrained(name)` (with [CLS] … [SEP]); a name neither
    cached nor reachable, or a folder that is not a tokenizer, is an InputError within seconds (networks/hub.py)."""
    from networks.hub import load_fast_tokenizer

    return load_fast_tokenizer(name)


class YelpPolarityDataModule(ClassificationDataModule):
    """Local files (train_path, test_path: .json, .jsonl, .csv or `<label> <text>` lines) when given, else
    the hub dataset `hub_name`. tokenizer: a hub name or path for AutoTokenizer.from_pretrained; "auto"
    tries `pretrained` and falls back to a WordPiece of `wordpiece_vocab_size` trained on the training
    texts; "wordpiece" always trains one. The tokenizer is cached with the corpus and written as
    tokenizer.json beside each run; with "auto" the cache keeps whichever of the two was used, so name the
    tokenizer (or "wordpiece") to switch once the corpus is cached. Texts are cut to `max_len` (256)
    sub-words, keeping the closing [SEP] (and the last `keep_tail` sub-words: head + tail), and every batch
    is padded to that fixed length (`pad_to_max_len: false` pads to the batch's longest instead)."""

    def __init__(
        self,
        train_path: str | None = None,
        test_path: str | None = None,
        hub_name: str = "fancyzhx/yelp_polarity",
        tokenizer: str = "auto",
        pretrained: str = "bert-base-uncased",
        wordpiece_vocab_size: int = 8000,
        cache_dir: str = ".cache/datamodules",
        val_size: int = 2500,
        split_seed: int = 0,
        max_len: int | None = 256,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: bool = True,
        num_workers: int = 0,
        pad_to_max_len: bool = True,
        predict_path: str | None = None,
        keep_tail: int = 0,
    ) -> None:
        super().__init__(
            batch_size, eval_batch_size, max_len, bucket, num_workers, pad_to_max_len, predict_path, keep_tail
        )
        if (train_path is None) != (test_path is None):
            raise InputError("give both train_path and test_path, or neither (then the hub is used)")
        self.paths = {"train": train_path, "test": test_path}
        self.hub_name, self.tokenizer, self.pretrained = hub_name, tokenizer, pretrained
        self.wordpiece_vocab_size, self.cache_dir = wordpiece_vocab_size, Path(cache_dir)
        self.val_size, self.split_seed = val_size, split_seed

    def _local(self) -> dict[str, Path] | None:
        if self.paths["train"] is None:
            return None
        paths = {split: Path(p).expanduser() for split, p in self.paths.items()}
        for split, path in paths.items():
            if not path.is_file():
                raise MissingInputError(f"Yelp {split} file not found: {path}")
        return paths

    def source(self) -> dict[str, Any]:
        local = self._local()
        return {s: fingerprint(p) for s, p in local.items()} if local else {"hub": self.hub_name}

    def read(self, split: str) -> Split:
        local = self._local()
        return read_hub(self.hub_name)[split] if local is None else read_labelled_file(local[split])

    def raw(self) -> dict[str, Dataset]:
        splits = read_splits("yelp", self.source(), self.read, ("train", "test"), self.cache_dir)
        train, val = carve_validation(splits["train"], self.val_size, self.split_seed)
        return {"train": train, "val": val, "test": splits["test"]}

    def fit_tokenizer(self, texts: list[str]) -> tokenizers.Tokenizer:
        if self.tokenizer not in ("auto", "wordpiece"):
            return pretrained_wordpiece(self.tokenizer)
        if self.tokenizer == "auto":
            try:
                return pretrained_wordpiece(self.pretrained)
            except Exception as err:  # offline, or not on the hub: train our own
                rank_zero_info(
                    f"{self.pretrained} tokenizer unavailable ({type(err).__name__}); "
                    f"training a {self.wordpiece_vocab_size}-piece WordPiece on the training texts"
                )
        return train_wordpiece(texts, self.wordpiece_vocab_size)

    def build_encoder(self) -> TextEncoder:
        settings = {
            "source": self.source(),
            "val_size": self.val_size,
            "split_seed": self.split_seed,
            "tokenizer": self.tokenizer,
            "pretrained": self.pretrained,
            "tokenizers": tokenizers.__version__,
            "wordpiece_vocab_size": self.wordpiece_vocab_size,
        }
        path = self.cache_dir / f"yelp-encoder-{digest(settings)}.json"
        return cached_encoder(path, lambda: SubwordEncoder(self.fit_tokenizer(self.raw()["train"]["text"])))

    def prepare_data(self) -> None:
        self.setup()  # tokenise and cache once, on one process; the other processes then load the cache

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            ids = Encode(self.text_encoder.state_dict())
            self.serve({split: encode(ds, ids, 1, f"ids of yelp {split}") for split, ds in self.raw().items()})
        self.setup_predict(stage)
        log_dir = self.trainer.log_dir if self.trainer is not None else None
        if log_dir:  # the tokenizer beside the run, for anyone who wants to reuse it
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            self.text_encoder.tokenizer.save(str(Path(log_dir) / "tokenizer.json"))
