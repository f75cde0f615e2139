"""Language modelling on real text: enwik8 as bytes, or any UTF-8 file at character level."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from datamodules.encoders import ByteEncoder, CharEncoder, TextEncoder
from datamodules.lm import LanguageModelDataModule
from datamodules.vocab import Vocabulary


def read_bytes(path: Path) -> bytes:
    """A file's bytes: plain, .gz, or the single member of a .zip (enwik8.zip holds enwik8)."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".gz":
        data = gzip.decompress(path.read_bytes())
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise ValueError(f"{path} should hold one file, holds {len(names)}")
            data = archive.read(names[0])
    else:
        data = path.read_bytes()
    if not data:
        raise ValueError(f"{path} is empty")
    return data


class Enwik8DataModule(LanguageModelDataModule):
    """enwik8 (Hutter prize; the first 100 MB of a Wikipedia dump) as 256 byte tokens, split 90/5/5 by
    position. `path`: enwik8, enwik8.gz or enwik8.zip, or a prefix of it (as in ../shared/data)."""

    def __init__(
        self,
        path: str = "data/enwik8/enwik8_prefix.gz",
        seq_len: int = 128,
        batch_size: int = 32,
        batches_per_epoch: int = 500,
        last_token_batches: int = 1000,
        eval_batch_size: int | None = None,
        seed: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(seq_len, batch_size, batches_per_epoch, last_token_batches, eval_batch_size, seed, num_workers)
        self.path = path

    def build_encoder(self) -> TextEncoder:
        return ByteEncoder()

    def split_tokens(self) -> dict[str, Tensor]:
        data = torch.frombuffer(bytearray(read_bytes(Path(self.path).expanduser())), dtype=torch.uint8).long()
        return self.split_by_position(data)


class TextFileDataModule(LanguageModelDataModule):
    """Any UTF-8 text file (plain or .gz) at character level, split 90/5/5 by position; the vocabulary is
    the special tokens and the characters of the training part (others become [UNK])."""

    def __init__(
        self,
        path: str,
        seq_len: int = 128,
        batch_size: int = 32,
        batches_per_epoch: int = 500,
        last_token_batches: int = 1000,
        eval_batch_size: int | None = None,
        seed: int | None = None,
        num_workers: int = 0,
    ) -> None:
        super().__init__(seq_len, batch_size, batches_per_epoch, last_token_batches, eval_batch_size, seed, num_workers)
        self.path = path
        self._text: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = read_bytes(Path(self.path).expanduser()).decode("utf-8", errors="replace")
        return self._text

    def build_encoder(self) -> TextEncoder:
        text = self.text()
        return CharEncoder(Vocabulary(sorted(set(text[: int(len(text) * 0.9)]))))

    def split_tokens(self) -> dict[str, Tensor]:
        return self.split_by_position(torch.tensor(self.text_encoder.encode_lenient(self.text())))
