"""IMDb (Maas et al., 2011): 25k training and 25k test movie reviews, word-level.

How a review becomes a batch: `read` (datamodules/readers.py) → a `datasets.Dataset` per split, cached →
2,500 validation reviews carved from train → spaCy tokens (`Dataset.map`, one process per core) → a
vocabulary from the training split → ids → padded, length-bucketed batches (datamodules/classification.py).
Every step is cached by `datasets` under `cache_dir` (datamodules/preparation.py says how).

With `pretrained_tokenizer` (a hub name or a save_pretrained folder, e.g. BERT's) the reviews become that
tokenizer's sub-word ids instead, with its [CLS] … [SEP]: what a pretrained encoder was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tokenizers
from datasets import Dataset
from lightning.pytorch.utilities import rank_zero_warn

from datamodules.classification import ClassificationDataModule
from datamodules.encoders import SubwordEncoder, TextEncoder
from datamodules.preparation import (
    Encode,
    WordPipeline,
    cached_encoder,
    carve_validation,
    digest,
    encode,
    fingerprint,
    read_splits,
)
from datamodules.readers import Split, read_acl_imdb, read_hub
from lab_errors import InputError, MissingInputError


def load_tokenizer(name_or_dir: str) -> tokenizers.Tokenizer:
    """The fast tokenizer behind AutoTokenizer.from_pretrained(name_or_dir), or one line saying why not (a
    folder that is not a tokenizer; a name neither cached nor reachable, said in seconds: networks/hub.py)."""
    from networks.hub import load_fast_tokenizer

    try:
        return load_fast_tokenizer(name_or_dir)
    except InputError as err:  # networks/hub.py turns every failure into one line; say which setting it was
        raise type(err)(f"pretrained_tokenizer: {err}") from err


class IMDbDataModule(ClassificationDataModule):
    """Reads `data_dir` (the aclImdb folder, its parent, or aclImdb_v1.tar.gz) when it exists, else the hub
    dataset `hub_name`. Validation is carved from train (`val_size`, `split_seed`); the 25k test reviews
    are only for `test`. spaCy tokens (`tokenizer`), lower-cased, `<br />` removed; a vocabulary of at most
    `max_vocab` words seen `min_freq` times in the training split; reviews cut to `max_len` tokens when
    batched, the last `keep_tail` of them from the review's end (head + tail; 0: the first `max_len`).
    `num_proc`: tokenising processes (default: every core); `cache_dir`: where `datasets` keeps the prepared
    corpus. `pretrained_tokenizer`: a Hugging Face tokenizer (hub name or folder) replacing the
    spaCy words and the vocabulary (lower, strip_html, tokenizer, max_vocab, min_freq and add_cls then do
    nothing: the tokenizer normalises, and adds [CLS] … [SEP]); truncation to `max_len` keeps the closing
    [SEP]. The texts reach it as read, `<br />` included, as raw text does at prediction time."""

    def __init__(
        self,
        data_dir: str | None = None,
        hub_name: str = "stanfordnlp/imdb",
        cache_dir: str = ".cache/datamodules",
        val_size: int = 2500,
        split_seed: int = 0,
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
        pretrained_tokenizer: str | None = None,
        keep_tail: int = 0,
    ) -> None:
        super().__init__(
            batch_size, eval_batch_size, max_len, bucket, num_workers, pad_to_max_len, predict_path, keep_tail
        )
        self.data_dir, self.hub_name, self.cache_dir = data_dir, hub_name, Path(cache_dir)
        self.val_size, self.split_seed = val_size, split_seed
        self.words = WordPipeline(
            "imdb", cache_dir, lower, strip_html, tokenizer, max_vocab, min_freq, add_cls, num_proc
        )
        self.pretrained_tokenizer = pretrained_tokenizer
        self._read: dict[str, Split] | None = None

    def local_path(self) -> Path | None:
        if self.data_dir is None:
            return None
        path = Path(self.data_dir).expanduser()
        if not path.exists():
            rank_zero_warn(f"IMDb: {path} does not exist; trying the hub dataset {self.hub_name}")
            return None
        return path

    def read(self, split: str) -> Split:
        """One split's texts and labels (1 = positive), from the local copy or the hub (read once for both)."""
        if self._read is None:
            path = self.local_path()
            self._read = read_acl_imdb(path) if path is not None else self.read_hub()
        return self._read[split]

    def read_hub(self) -> dict[str, Split]:
        try:
            return read_hub(self.hub_name)
        except FileNotFoundError as err:
            where = f"{self.data_dir} does not exist, and " if self.data_dir else "no data_dir was given, and "
            raise MissingInputError(
                f"IMDb not found: {where}{err}. Download "
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz and pass "
                "--data.init_args.data_dir PATH"
            ) from err

    def source(self) -> dict[str, Any]:
        path = self.local_path()
        return {"source": fingerprint(path) if path else {"hub": self.hub_name}}

    def raw(self) -> dict[str, Dataset]:
        """train, val and test as Datasets of {"text", "label"}."""
        splits = read_splits("imdb", self.source(), self.read, ("train", "test"), self.cache_dir)
        self._read = None  # the Datasets hold them now (on disk)
        train, val = carve_validation(splits["train"], self.val_size, self.split_seed)
        return {"train": train, "val": val, "test": splits["test"]}

    def build_encoder(self) -> TextEncoder:
        if self.pretrained_tokenizer:
            key = {"tokenizer": self.pretrained_tokenizer, "tokenizers": tokenizers.__version__}
            path = self.cache_dir / f"imdb-subword-encoder-{digest(key)}.json"
            return cached_encoder(path, lambda: SubwordEncoder(load_tokenizer(self.pretrained_tokenizer)))
        key = {**self.source(), "val_size": self.val_size, "split_seed": self.split_seed}
        return self.words.encoder(key, self.raw)

    def prepare_data(self) -> None:
        self.setup()  # tokenise and cache once, on one process; the other processes then load the cache

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets and self.pretrained_tokenizer:
            transform = Encode(self.text_encoder.state_dict())  # its digest computed once for every split
            raw = self.raw()
            self.serve({split: encode(ds, transform, 1, f"sub-word ids of imdb {split}") for split, ds in raw.items()})
        if not self.datasets:
            self.serve(self.words.encode(self.raw(), self.text_encoder))
        self.setup_predict(stage)
