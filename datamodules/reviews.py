"""Review files of a common course exercise: `id<TAB>label<TAB>text`, label pos or neg, word-level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamodules.cache import fingerprint
from datamodules.corpus import RawSplits, WordCorpusDataModule
from datamodules.readers import read_reviews_tsv


class ReviewsDataModule(WordCorpusDataModule):
    """train_path and val_path (the exercise's sample_train.txt and dev.txt); test_path defaults to the
    validation file, as the exercise reports dev accuracy. The vocabulary comes from train_path only."""

    name = "reviews"

    def __init__(self, train_path: str, val_path: str, test_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paths = {"train": train_path, "val": val_path, "test": test_path or val_path}

    def _path(self, split: str) -> Path:
        path = Path(self.paths[split]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{split} reviews not found: {path}")
        return path

    def source(self) -> dict[str, Any]:
        return {split: fingerprint(self._path(split)) for split in self.paths}

    def read(self) -> RawSplits:
        return {split: read_reviews_tsv(self._path(split)) for split in self.paths}
