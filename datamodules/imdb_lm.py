"""The IMDb reviews as running English text for a causal language model, in byte-level BPE sub-words.

A GPT-2-shaped model of the lab needs English to be sampled from (ML Methods Exercise 5's ten two-word
prefixes, docs/courses/ml_methods_ex5.md), and the IMDb reviews are the largest English corpus the lab reads.
The 25,000 training reviews (their labels unused) are the training text, shuffled with `split_seed` and
joined one review per line (`<br />` breaks as newlines); validation and test are `eval_reviews` reviews each
from the test split, so no film's reviews are in both. The tokenizer is GPT-2's kind: a byte-level BPE of
`bpe_vocab_size` sub-words (every byte is a symbol, so no text is ever unknown), trained here on the training text
only. Tokenizer and token ids are cached under `cache_dir`, keyed by the archive and the settings, written
whole (a temporary name, then one rename); the tokenizer travels in every checkpoint, so generate.py
samples from one without the data.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch import Tensor

from datamodules.encoders import SubwordEncoder, TextEncoder
from datamodules.lm import LanguageModelDataModule
from datamodules.preparation import cached_encoder, digest, fingerprint, write_atomically
from datamodules.readers import read_acl_imdb
from datamodules.vocab import SPECIAL_TOKENS
from lab_errors import MissingInputError


def train_byte_bpe(texts: list[str], vocab_size: int) -> SubwordEncoder:
    """A byte-level BPE over `texts` (GPT-2's pre-tokenisation and decoder), with the lab's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return SubwordEncoder(tokenizer)


class IMDbTextDataModule(LanguageModelDataModule):
    def __init__(
        self,
        data_dir: str = "data/imdb/aclImdb.tar.gz",
        bpe_vocab_size: int = 8192,
        eval_reviews: int = 1250,
        split_seed: int = 0,
        cache_dir: str = ".cache/datamodules",
        seq_len: int = 128,
        batch_size: int = 32,
        batches_per_epoch: int = 500,
        last_token_batches: int = 0,
        eval_batch_size: int | None = None,
        seed: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(seq_len, batch_size, batches_per_epoch, last_token_batches, eval_batch_size, seed, num_workers)
        if bpe_vocab_size < 256 + len(SPECIAL_TOKENS):
            raise ValueError(f"bpe_vocab_size must hold the 256 bytes and the special tokens, got {bpe_vocab_size}")
        if eval_reviews <= 0:
            raise ValueError(f"eval_reviews must be positive, got {eval_reviews}")
        self.data_dir, self.bpe_vocab_size, self.eval_reviews = data_dir, bpe_vocab_size, eval_reviews
        self.split_seed, self.cache_dir = split_seed, Path(cache_dir)
        self._texts: dict[str, list[str]] | None = None

    def corpus_name(self) -> str:
        return str(self.data_dir)

    def _key(self) -> str:
        path = Path(self.data_dir).expanduser()
        if not path.exists():
            raise MissingInputError(
                f"{path}: no such IMDb archive or folder (data.init_args.data_dir; the aclImdb_v1.tar.gz of "
                "https://ai.stanford.edu/~amaas/data/sentiment/)"
            )
        settings = {"source": fingerprint(path), "eval_reviews": self.eval_reviews, "split_seed": self.split_seed}
        return digest({**settings, "bpe_vocab_size": self.bpe_vocab_size})

    def texts(self) -> dict[str, list[str]]:
        """train, val and test as lists of reviews, one line each."""
        if self._texts is None:
            splits = read_acl_imdb(Path(self.data_dir).expanduser())
            train, test = list(splits["train"][0]), list(splits["test"][0])
            shuffle = random.Random(self.split_seed).shuffle
            shuffle(train), shuffle(test)
            as_lines = [
                [t.replace("<br />", "\n").replace("\n\n", "\n").strip() for t in texts] for texts in (train, test)
            ]
            n = self.eval_reviews
            self._texts = {"train": as_lines[0], "val": as_lines[1][:n], "test": as_lines[1][n : 2 * n]}
        return self._texts

    def build_encoder(self) -> TextEncoder:
        path = self.cache_dir / f"imdb-text-bpe-{self._key()}.json"
        return cached_encoder(path, lambda: train_byte_bpe(self.texts()["train"], self.bpe_vocab_size))

    def split_tokens(self) -> dict[str, Tensor]:
        path = self.cache_dir / f"imdb-text-tokens-{self._key()}.pt"
        if path.is_file():
            return torch.load(path)
        encoder = self.text_encoder
        splits = {}
        for split, reviews in self.texts().items():
            ids = encoder.encode_many([review + "\n" for review in reviews])
            splits[split] = torch.tensor([i for review in ids for i in review], dtype=torch.long)
        write_atomically(path, lambda file: torch.save(splits, file))
        return splits
