"""Yelp review polarity (Zhang et al., 2015), sub-word level: a BERT WordPiece tokenizer, or one trained here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tokenizers
from lightning.pytorch.utilities import rank_zero_info
from tqdm.auto import tqdm

from datamodules.cache import fingerprint
from datamodules.corpus import RawSplits, TextCorpusDataModule
from datamodules.encoders import SubwordEncoder, TextEncoder
from datamodules.readers import read_hub, read_labelled_file
from datamodules.vocab import SPECIAL_TOKENS


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
    """The fast tokenizer behind `AutoTokenizer.from_pretrained(name)` (with [CLS] … [SEP])."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name).backend_tokenizer


class YelpPolarityDataModule(TextCorpusDataModule):
    """Local files (train_path, test_path: .json, .jsonl, .csv or `<label> <text>` lines) when given, else
    the hub dataset `hub_name`. tokenizer: a hub name or path for AutoTokenizer.from_pretrained; "auto"
    tries `pretrained` and falls back to a WordPiece of `wordpiece_vocab_size` trained on the training
    texts; "wordpiece" always trains one. The tokenizer is cached with the corpus and written as
    tokenizer.json beside each run; with "auto" the cache keeps whichever of the two was used, so name the
    tokenizer (or "wordpiece") to switch once the corpus is cached. Texts are cut to `max_len` (256)
    sub-words, keeping the closing [SEP], and every batch is padded to that fixed length
    (`pad_to_max_len: false` pads to the batch's longest instead)."""

    name = "yelp"

    def __init__(
        self,
        train_path: str | None = None,
        test_path: str | None = None,
        hub_name: str = "fancyzhx/yelp_polarity",
        tokenizer: str = "auto",
        pretrained: str = "bert-base-uncased",
        wordpiece_vocab_size: int = 8000,
        pad_to_max_len: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(pad_to_max_len=pad_to_max_len, **kwargs)
        if (train_path is None) != (test_path is None):
            raise ValueError("give both train_path and test_path, or neither (then the hub is used)")
        self.paths = {"train": train_path, "test": test_path}
        self.hub_name, self.tokenizer, self.pretrained = hub_name, tokenizer, pretrained
        self.wordpiece_vocab_size = wordpiece_vocab_size

    def _local(self) -> dict[str, Path] | None:
        if self.paths["train"] is None:
            return None
        paths = {split: Path(p).expanduser() for split, p in self.paths.items()}
        for split, path in paths.items():
            if not path.is_file():
                raise FileNotFoundError(f"Yelp {split} file not found: {path}")
        return paths

    def source(self) -> dict[str, Any]:
        local = self._local()
        return {s: fingerprint(p) for s, p in local.items()} if local else {"hub": self.hub_name}

    def settings(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer,
            "pretrained": self.pretrained,
            "tokenizers": tokenizers.__version__,
            "wordpiece_vocab_size": self.wordpiece_vocab_size,
        }

    def read(self) -> RawSplits:
        local = self._local()
        if local is None:
            return read_hub(self.hub_name)
        return {split: read_labelled_file(path) for split, path in local.items()}

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

    def build(self, raw: RawSplits) -> tuple[TextEncoder, dict[str, list[list[int]]]]:
        encoder = SubwordEncoder(self.fit_tokenizer(raw["train"][0]))
        ids = {}
        for split, (texts, _) in raw.items():
            chunks = range(0, len(texts), 1000)
            ids[split] = [
                seq
                for i in tqdm(chunks, desc=f"tokenising yelp {split}", disable=None)
                for seq in encoder.encode_many(texts[i : i + 1000])
            ]
        return encoder, ids

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        log_dir = getattr(self.trainer, "log_dir", None) if self.trainer is not None else None
        if log_dir:  # the tokenizer beside the run, for anyone who wants to reuse it
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            self.text_encoder.tokenizer.save(str(Path(log_dir) / "tokenizer.json"))
