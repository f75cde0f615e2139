"""How a labelled corpus becomes ids, on the `datasets` engine: read → tokenise → vocabulary → ids.

1. `read_splits`: each split's raw rows ({"text", "label"}) become a `datasets.Dataset` through
   `Dataset.from_generator`, keyed by the source's fingerprint (path, size, modification time).
2. `tokenise` / `encode`: `Dataset.map(batched=True, num_proc=…)`, one process per core for spaCy.
3. `cached_encoder`: the encoder fitted on the training split (vocabulary or WordPiece), kept as JSON.

Every step is cached under `cache_dir` by `datasets` itself: a step's result is an Arrow file named by its
fingerprint, which `chained` computes from the input's fingerprint and the step's settings (the source's
path/size/mtime, the carve's size and seed, the tokeniser's settings, a digest of the encoder's state), so a
second run reads no review and calls no tokeniser, and a changed setting makes a new file. Every
fingerprint is given explicitly (`new_fingerprint=`): left to itself, `datasets` would dill-pickle each
transform (the 20k-word vocabulary, on every split) and each index list to hash them, on every run.
`datasets` writes each file under a temporary name and moves it into place, and so does `cached_encoder`:
an interrupted run leaves nothing half-written.

Hand-written, and why:
- the readers (datamodules/readers.py): the corpora's formats (pos/neg labels, 1/2 labels, `<label> <text>`
  lines, the aclImdb tree) need per-row checks whose errors name the file and line; `load_dataset("json")`
  and `("csv")` report malformed rows as pyarrow errors without one;
- the validation carve: a fixed torch permutation of `split_seed`, so the ids match earlier releases;
- the vocabulary count (Vocabulary.build: ties broken alphabetically, so builds repeat exactly).
Progress: `datasets` draws a bar per step on stderr (also when it is a log file, not a terminal), and each
step logs a line when it starts and ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import torch
from datasets import Dataset, Features, Value
from datasets.exceptions import DatasetGenerationError
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from datamodules.encoders import SubwordEncoder, TextEncoder, WordEncoder
from datamodules.vocab import Vocabulary
from datamodules.worker_processes import children_end_with_parent
from lab_errors import InputError

RAW = Features({"text": Value("string"), "label": Value("int64")})
READER_VERSION = 3  # bump when a reader's output changes: every cached corpus is then read again
MIN_CLASS_SHARE = 0.1  # a class under this share of a split is warned about (a deliberate choice is allowed)
ROWS_PER_PROCESS = 1000  # smaller corpora are tokenised in one process: starting workers costs more


def default_num_proc() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def chained(parent: Dataset, step: str, settings: dict[str, Any]) -> str:
    """The fingerprint of `step` under `settings` applied to `parent`: a digest of small data, computed in
    microseconds (Dataset keeps its fingerprint in `_fingerprint`; datasets has no public getter)."""
    return digest({"parent": parent._fingerprint, "step": step, **settings})


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies a local source without reading it all: resolved path, size, modification time."""
    path = path.resolve()
    if path.is_dir():
        stats = [p.stat() for p in sorted(path.rglob("*")) if p.is_file()]
        return {
            "path": str(path),
            "files": len(stats),
            "size": sum(s.st_size for s in stats),
            "mtime": max((s.st_mtime_ns for s in stats), default=0),
        }
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime": stat.st_mtime_ns}


def _rows(read: Callable[[str], tuple[list[str], list[int]]], split: str):
    texts, labels = read(split)
    for text, label in zip(texts, labels, strict=True):
        yield {"text": text, "label": label}


def column(dataset: Dataset, name: str) -> list:
    """One column as a Python list, read by Arrow in one go (iterating a Dataset formats row by row)."""
    return dataset.with_format("arrow")[name].to_pylist()


def check_classes(labels: list[int], where: str, num_classes: int = 2) -> None:
    """A split missing a class is an error; a class under MIN_CLASS_SHARE of it, a loud warning."""
    counts = Counter(labels)
    missing = [c for c in range(num_classes) if counts[c] == 0]
    if missing:
        raise InputError(
            f"{where}: no example of class {missing} among {len(labels)} ({dict(sorted(counts.items()))}); "
            "a classifier trained or scored on it learns or measures nothing"
        )
    rare = {c: n for c, n in counts.items() if n < MIN_CLASS_SHARE * len(labels)}
    if rare:
        rank_zero_warn(
            f"{where}: class {sorted(rare)} is under {MIN_CLASS_SHARE:.0%} of the {len(labels)} examples "
            f"({dict(sorted(counts.items()))}); accuracy will mostly reflect the majority class"
        )


def read_splits(
    corpus: str,
    source: dict[str, Any],
    read: Callable[[str], tuple[list[str], list[int]]],
    splits: tuple[str, ...],
    cache_dir: Path,
) -> dict[str, Dataset]:
    """Each split as a Dataset of {"text", "label"}: `read(split)` runs only when the source is not cached."""
    out = {}
    for split in splits:
        key = digest({"corpus": corpus, "split": split, "source": source, "reader": READER_VERSION})
        try:
            out[split] = Dataset.from_generator(
                _rows,
                features=RAW,
                gen_kwargs={"read": read, "split": split},
                cache_dir=str(cache_dir),
                fingerprint=key,
            )
        except DatasetGenerationError as err:  # datasets wraps what the reader raised: bad input stays one
            if isinstance(err.__cause__, InputError):
                raise err.__cause__ from None
            raise
        check_classes(column(out[split], "label"), f"{corpus} {split}")
    return out


def carve_validation(train: Dataset, val_size: int, seed: int) -> tuple[Dataset, Dataset]:
    """(train, val): `val_size` examples chosen by `seed` leave the training split; test stays untouched."""
    if not 0 < val_size < len(train):
        raise InputError(f"val_size={val_size} must be between 1 and the {len(train)} training examples")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    settings = {"val_size": val_size, "seed": seed}
    return (
        train.select(order[val_size:], new_fingerprint=chained(train, "carve train", settings)),
        train.select(order[:val_size], new_fingerprint=chained(train, "carve val", settings)),
    )


def _map(dataset: Dataset, transform: Tokenise | Encode, num_proc: int, desc: str, remove: list[str]) -> Dataset:
    processes = max(1, min(num_proc, len(dataset) // ROWS_PER_PROCESS))
    start = time.time()
    step = chained(dataset, type(transform).__name__, {"transform": transform.digest})
    num_proc = processes if processes > 1 else None
    with children_end_with_parent():  # the pool never outlives a killed run
        result = dataset.map(transform, batched=True, num_proc=num_proc, desc=desc, new_fingerprint=step)
    rank_zero_info(f"{desc}: {len(dataset)} texts in {time.time() - start:.1f} s ({processes} process(es), or cached)")
    dropped = [c for c in remove if c in result.column_names]
    return result.remove_columns(dropped, new_fingerprint=chained(result, "remove", {"columns": dropped}))


class Tokenise:
    """Batch of texts → word tokens (clean, then spaCy or whitespace). Pickles to its settings alone, which
    is what `datasets` fingerprints; each worker process loads its own spaCy pipeline."""

    def __init__(self, lower: bool, strip_html: bool, tokenizer: str) -> None:
        self.lower, self.strip_html, self.tokenizer = lower, strip_html, tokenizer
        encoder = self.encoder()
        self.resolved = "whitespace" if encoder.tokenizer is None else encoder.tokenizer.name  # spaCy version, model
        self.digest = digest(self.__getstate__())

    def encoder(self) -> WordEncoder:
        return WordEncoder(Vocabulary(), self.lower, self.strip_html, self.tokenizer)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_encoder", "digest")}

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if "_encoder" not in self.__dict__:
            self._encoder = self.encoder()
        return {"tokens": list(self._encoder.tokens(batch["text"]))}


class Encode:
    """Batch of word tokens or texts → ids under an encoder's state (its vocabulary or tokenizer JSON).
    `digest` (of the whole state, one pass) names what it computes in every fingerprint."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.digest = digest(state)

    def __getstate__(self) -> dict[str, Any]:
        return {"state": self.state, "digest": self.digest}

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if "_encoder" not in self.__dict__:
            self._encoder = TextEncoder.from_state(self.state)
        encoder = self._encoder
        if isinstance(encoder, SubwordEncoder):
            ids = encoder.encode_many(batch["text"])
        else:
            ids = [encoder.encode_tokens(tokens) for tokens in batch["tokens"]]
        return {"input_ids": ids, "length": [len(i) for i in ids]}


def tokenise(dataset: Dataset, transform: Tokenise, num_proc: int, desc: str) -> Dataset:
    return _map(dataset, transform, num_proc, desc, remove=[])


def encode(dataset: Dataset, transform: Encode, num_proc: int, desc: str) -> Dataset:
    """Ids and lengths; the result keeps only input_ids, length and label. Sub-word tokenizers run their own
    threads on every core, so they get one process. One `Encode` serves every split (its digest is computed once)."""
    processes = 1 if transform.state["kind"] == SubwordEncoder.kind else num_proc
    return _map(dataset, transform, processes, desc, remove=["text", "tokens"])


def write_atomically(path: Path, write: Any, text: bool = False) -> None:
    """`write(file)` into a temporary file beside `path`, then moved onto `path`: never half a file there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb") as file:
            write(file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_encoder(path: Path, fit: Callable[[], TextEncoder]) -> TextEncoder:
    """The encoder stored at `path`, else `fit()`'s, written there whole (temporary name, then one rename)."""
    if path.is_file():
        return TextEncoder.from_state(json.loads(path.read_text()))
    encoder = fit()
    write_atomically(path, lambda file: json.dump(encoder.state_dict(), file, ensure_ascii=False), text=True)
    return encoder


def word_vocabulary(train_tokens: Dataset, max_vocab: int | None, min_freq: int) -> Vocabulary:
    start = time.time()
    tokens = pc.list_flatten(train_tokens.with_format("arrow")["tokens"])  # counted by Arrow, not Python
    counts = {c["values"].as_py(): c["counts"].as_py() for c in pc.value_counts(tokens)}
    vocab = Vocabulary.from_counts(counts, max_vocab, min_freq)
    rank_zero_info(f"vocabulary of {len(vocab)} from {len(train_tokens)} training texts in {time.time() - start:.1f} s")
    return vocab


class WordPipeline:
    """Word-level corpora (IMDb, review files): clean, spaCy (or whitespace) tokens, a vocabulary
    from the training split only, ids. The vocabulary needs the training split tokenised, nothing else."""

    def __init__(
        self,
        corpus: str,
        cache_dir: str,
        lower: bool,
        strip_html: bool,
        tokenizer: str,
        max_vocab: int | None,
        min_freq: int,
        add_cls: bool,
        num_proc: int | None,
    ) -> None:
        if max_vocab is not None and max_vocab <= len(Vocabulary()):
            raise InputError(f"max_vocab must exceed the {len(Vocabulary())} special tokens, got {max_vocab}")
        if num_proc is not None and num_proc <= 0:
            raise InputError(f"num_proc must be positive, got {num_proc}")
        self.corpus, self.cache_dir = corpus, Path(cache_dir)
        self.lower, self.strip_html, self.tokenizer = lower, strip_html, tokenizer
        self.max_vocab, self.min_freq, self.add_cls = max_vocab, min_freq, add_cls
        self.num_proc = num_proc or default_num_proc()

    @property
    def tokenise(self) -> Tokenise:
        if "_tokenise" not in self.__dict__:  # loads spaCy: only when a corpus is prepared, not for --help
            self._tokenise = Tokenise(self.lower, self.strip_html, self.tokenizer)
        return self._tokenise

    def tokens(self, raw: Dataset, split: str) -> Dataset:
        return tokenise(raw, self.tokenise, self.num_proc, f"tokenising {self.corpus} {split}")

    def encoder(self, key: dict[str, Any], raw: Callable[[], dict[str, Dataset]]) -> WordEncoder:
        """The encoder, its vocabulary fitted on raw()["train"]; cached under a digest of `key` and the settings."""
        settings = {**key, **self.tokenise.__getstate__(), "max_vocab": self.max_vocab, "min_freq": self.min_freq}
        path = self.cache_dir / f"{self.corpus}-encoder-{digest({**settings, 'add_cls': self.add_cls})}.json"

        def fit() -> WordEncoder:
            vocab = word_vocabulary(self.tokens(raw()["train"], "train"), self.max_vocab, self.min_freq)
            return WordEncoder(vocab, self.lower, self.strip_html, self.tokenizer, self.add_cls)

        return cached_encoder(path, fit)

    def encode(self, raw: dict[str, Dataset], encoder: TextEncoder) -> dict[str, Dataset]:
        transform = Encode(encoder.state_dict())
        return {
            split: encode(self.tokens(ds, split), transform, self.num_proc, f"ids of {self.corpus} {split}")
            for split, ds in raw.items()
        }
