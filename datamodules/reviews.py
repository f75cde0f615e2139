"""Review files of `id<TAB>label<TAB>text` lines, label pos or neg, word-level.

Prepared as IMDb is (datamodules/imdb.py): Datasets per split, spaCy tokens, a vocabulary from the training
file only, ids; all cached by `datasets` under `cache_dir`.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from datamodules.classification import ClassificationDataModule
from datamodules.encoders import TextEncoder
from datamodules.preparation import WordPipeline, fingerprint, read_splits
from datamodules.readers import Split, read_reviews_tsv
from lab_errors import MissingInputError


class ReviewsDataModule(ClassificationDataModule):
    """train_path and val_path (for instance sample_train.txt and dev.txt); test_path defaults to the
    validation file, for corpora whose figures are dev accuracy. The vocabulary comes from train_path only; the
    other options are IMDbDataModule's."""

    def __init__(
        self,
        train_path: str,
        val_path: str,
        test_path: str | None = None,
        cache_dir: str = ".cache/datamodules",
        lower: bool = True,
        strip_html: bool = True,
        tokenizer: str = "auto",
        max_vocab: int | None = 20_000,
        min_freq: int = 2,
        add_cls: bool = False,
        num_proc: int | None = None,
        max_len: int | None = 256,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        bucket: bool = True,
        num_workers: int = 0,
        pad_to_max_len: bool = False,
        predict_path: str | None = None,
        keep_tail: int = 0,
    ) -> None:
        super().__init__(
            batch_size, eval_batch_size, max_len, bucket, num_workers, pad_to_max_len, predict_path, keep_tail
        )
        self.paths = {"train": train_path, "val": val_path, "test": test_path or val_path}
        self.cache_dir = Path(cache_dir)
        self.words = WordPipeline(
            "reviews", cache_dir, lower, strip_html, tokenizer, max_vocab, min_freq, add_cls, num_proc
        )

    def path(self, split: str) -> Path:
        path = Path(self.paths[split]).expanduser()
        if not path.is_file():
            raise MissingInputError(f"{split} reviews not found: {path}")
        return path

    def read(self, split: str) -> Split:
        return read_reviews_tsv(self.path(split))

    def source(self) -> dict:
        return {split: fingerprint(self.path(split)) for split in self.paths}

    def raw(self) -> dict[str, Dataset]:
        return read_splits("reviews", self.source(), self.read, ("train", "val", "test"), self.cache_dir)

    def build_encoder(self) -> TextEncoder:
        return self.words.encoder(self.source(), self.raw)

    def prepare_data(self) -> None:
        self.setup()  # tokenise and cache once, on one process; the other processes then load the cache

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            self.serve(self.words.encode(self.raw(), self.text_encoder))
        self.setup_predict(stage)
