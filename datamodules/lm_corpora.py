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
from lab_errors import InputError, MissingInputError, first_line


def read_bytes(path: Path) -> bytes:
    """A file's bytes: plain, .gz, or the single member of a .zip (enwik8.zip holds enwik8). The user names
    the file (data.init_args.path), so what is wrong with it is an InputError naming it."""
    if not path.is_file():
        raise MissingInputError(f"{path}: no such file (data.init_args.path)")
    try:
        if path.suffix == ".gz":
            data = gzip.decompress(path.read_bytes())
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise InputError(f"{path} should hold one file, holds {len(names)}")
                data = archive.read(names[0])
        else:
            data = path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zipfile.BadZipFile) as err:  # EOFError: a .gz cut short
        kind = "zip" if path.suffix == ".zip" else "gzip"
        raise InputError(f"{path} is not a {kind} file, or is cut short ({first_line(err)})") from err
    if not data:
        raise InputError(f"{path} is empty: a language model needs text to learn from")
    return data


class Enwik8DataModule(LanguageModelDataModule):
    """enwik8 (Hutter prize; the first 100 MB of a Wikipedia dump) as 256 byte tokens, split 90/5/5 by
    position. `path`: enwik8, enwik8.gz or enwik8.zip, or a prefix of it (the results pages use its first
    4,154,399 bytes)."""

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

    def corpus_name(self) -> str:
        return str(self.path)

    def build_encoder(self) -> TextEncoder:
        return ByteEncoder()

    def split_tokens(self) -> dict[str, Tensor]:
        data = torch.frombuffer(bytearray(read_bytes(Path(self.path).expanduser())), dtype=torch.uint8).long()
        return self.split_by_position(data)


class TextFileDataModule(LanguageModelDataModule):
    """Any UTF-8 text file (plain or .gz) at character level, split 90/5/5 by position; the vocabulary is
    the special tokens and the characters of the training part (others become [UNK]). A byte-order mark at
    its start is dropped, and undecodable bytes are read as U+FFFD."""

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

    def corpus_name(self) -> str:
        return str(self.path)

    def text(self) -> str:
        if self._text is None:
            # utf-8-sig: a byte-order mark (Windows editors write one) is no character of the text
            self._text = read_bytes(Path(self.path).expanduser()).decode("utf-8-sig", errors="replace")
        return self._text

    def build_encoder(self) -> TextEncoder:
        text = self.text()
        return CharEncoder(Vocabulary(sorted(set(text[: int(len(text) * 0.9)]))))

    def split_tokens(self) -> dict[str, Tensor]:
        return self.split_by_position(torch.tensor(self.text_encoder.encode_lenient(self.text())))
