"""The one exception type for bad input, shared by every part of the lab but the hand-built layers.

`InputError` means "what the user gave is wrong": a config value, a file, a text, a checkpoint. The entry
points (train.py, tune.py and the programs/ commands) report it in one line naming the file, key or value and
what to do; any other exception is a bug in our code and keeps its traceback. It is a module of its own, at the
top of the tree, because data modules, networks, Lightning modules and programs all raise it and none of them
may import the others. The layers in `layers/` raise plain ValueError, as torch.nn's modules do; the CLI
reports a ValueError raised while it builds a config's classes in one line too (lightning_modules/cli.py).

It subclasses ValueError so code that already catches ValueError (and tests that expect it) keeps working;
`MissingInputError` is also a FileNotFoundError for inputs that are not there at all.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user; the message says which file, key or value, and what to do."""


class MissingInputError(InputError, FileNotFoundError):
    """A file, folder or checkpoint the user named does not exist (or holds nothing to read)."""


def first_line(err: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (whitespace runs, newlines included, become one space; Hugging Face's
    and torch's messages run over several), cut at `limit` characters; its type's name when it has none."""
    text = " ".join(str(err).split())
    return text[:limit] if text else type(err).__name__
