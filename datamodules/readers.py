"""Readers for the raw formats of the sentiment corpora. Labels come out as 1 = positive, 0 = negative.

Text is decoded as UTF-8 with undecodable bytes replaced (�), so one stray byte in a review does not stop
a run, and a byte-order mark at a file's start (Windows editors write one) is dropped, not read as part of the
first line; a line that breaks its format is an error naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

from lab_errors import InputError, MissingInputError

Split = tuple[list[str], list[int]]
ACL_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/([^/]+)\.txt$")


def decode(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")  # -sig: without a leading byte-order mark


def lines(text: str) -> list[str]:
    """Split on newlines only: str.splitlines() also splits on \x85, \u2028 and others that occur inside
    reviews, which would cut one review into malformed pieces."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def read_acl_imdb(path: Path) -> dict[str, Split]:
    """The Large Movie Review Dataset (Maas et al., 2011): aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt,
    from the folder aclImdb, its parent, or the aclImdb_v1.tar.gz archive (read without unpacking)."""
    found: dict[str, list[tuple[str, str, int]]] = {"train": [], "test": []}
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise InputError(f"{path} is not a tar archive (expected aclImdb_v1.tar.gz or the aclImdb folder)")
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and (m := ACL_MEMBER.search(member.name)):
                    text = decode(archive.extractfile(member).read())
                    found[m.group(1)].append((m.group(3), text, int(m.group(2) == "pos")))
    else:
        root = path / "aclImdb" if (path / "aclImdb").is_dir() else path
        for split in found:
            for label_name in ("pos", "neg"):
                for file in (root / split / label_name).glob("*.txt"):
                    found[split].append((file.stem, decode(file.read_bytes()), int(label_name == "pos")))
    if not found["train"] or not found["test"]:
        raise MissingInputError(
            f"no IMDb reviews under {path}: expected the aclImdb layout, "
            "{train,test}/{pos,neg}/<id>_<rating>.txt, in a folder or in aclImdb_v1.tar.gz"
        )
    for split, rows in found.items():
        for label, name in ((1, "pos"), (0, "neg")):
            if not any(r[2] == label for r in rows):
                raise MissingInputError(f"no IMDb reviews in {path}: {split}/{name}/ is missing or empty")
    splits = {}
    for split, rows in found.items():
        rows.sort(key=lambda r: (-r[2], r[0]))  # archive and folder orders differ; the split must not
        splits[split] = ([r[1] for r in rows], [r[2] for r in rows])
    return splits


def read_hub(name: str, text_field: str = "text", label_field: str = "label") -> dict[str, Split]:
    """A Hugging Face hub dataset with train and test splits (downloaded once into the HF cache)."""
    try:
        from datasets import load_dataset

        dataset = load_dataset(name)
    except Exception as err:  # offline, unknown name, network: all mean "not from the hub"
        raise MissingInputError(
            f"could not load {name!r} from the Hugging Face hub ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    return {
        split: (list(dataset[split][text_field]), [int(x) for x in dataset[split][label_field]])
        for split in ("train", "test")
    }


def read_reviews_tsv(path: Path) -> Split:
    """`id<TAB>label<TAB>text` lines, label pos or neg."""
    texts, labels = [], []
    for number, line in enumerate(lines(decode(path.read_bytes())), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        if len(fields) != 3 or fields[1].strip().lower() not in ("pos", "neg"):
            shown = line if len(line) < 60 else line[:57] + "..."
            raise InputError(f"{path}:{number}: expected id<TAB>pos|neg<TAB>text, got {shown!r}")
        texts.append(fields[2])
        labels.append(int(fields[1].strip().lower() == "pos"))
    if not texts:
        raise InputError(f"{path} holds no reviews")
    return texts, labels


def _label(value: Any, where: str, one_two: bool = False) -> int:
    label = str(value).strip().strip('"')
    allowed = {"1": 0, "2": 1} if one_two else {"0": 0, "1": 1}
    if label not in allowed:
        raise InputError(f"{where}: label must be one of {sorted(allowed)}, got {label!r}")
    return allowed[label]


def _json(text: str, path: Path, lines_before: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{lines_before + err.lineno}: not valid JSON ({err.msg})") from err


def read_labelled_file(path: Path) -> Split:
    """Labelled reviews in the formats the Yelp polarity data comes in:
    .json (a list of {"text", "label"}), .jsonl (one such object a line), .csv (the original distribution:
    "label","text" with 1 = negative and 2 = positive), or text lines `<label> <text>` / `<label>\\t<text>`
    with 1 = positive and 0 = negative."""
    content = decode(path.read_bytes())
    texts, labels = [], []
    if path.suffix in (".json", ".jsonl"):
        if path.suffix == ".json":  # one list: items are named by their place in it
            rows = [(f"{path}: item {i}", row) for i, row in enumerate(_json(content, path, 0), start=1)]
        else:  # one object a line: items are named by their line
            rows = [
                (f"{path}:{number}", _json(line, path, number - 1))
                for number, line in enumerate(lines(content), start=1)
                if line.strip()
            ]
        for where, row in rows:
            if not isinstance(row, dict) or "text" not in row or "label" not in row:
                raise InputError(f"{where}: needs 'text' and 'label' fields")
            texts.append(str(row["text"]))
            labels.append(_label(row["label"], where))
    elif path.suffix == ".csv":
        for number, row in enumerate(csv.reader(io.StringIO(content)), start=1):
            if len(row) < 2:
                raise InputError(f'{path}:{number}: expected "label","text"')
            texts.append(",".join(row[1:]))
            labels.append(_label(row[0], f"{path}:{number}", one_two=True))
    else:
        for number, line in enumerate(lines(content), start=1):
            if not line.strip():
                continue
            label, _, text = line.partition("\t") if "\t" in line[:3] else line.partition(" ")
            labels.append(_label(label, f"{path}:{number}"))
            texts.append(text)
    if not texts:
        raise InputError(f"{path} holds no reviews")
    return texts, labels


def read_texts(path: Path) -> list[str]:
    """Texts to classify, one per line; a blank line is an empty text, so text i is line i + 1. A file of no
    line at all is refused: predicting it would write no predictions (and leave an earlier run's in place)."""
    if not path.is_file():
        raise MissingInputError(f"no file of texts to classify at {path}")
    content = decode(path.read_bytes())
    if not content:
        raise InputError(f"{path} has no lines to predict: write one text per line")
    return lines(content.removesuffix("\n"))
