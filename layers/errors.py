"""The one exception type for bad input, shared by every part of the lab.

`InputError` means "what the user gave is wrong": a config value, a file, a text, a checkpoint. The entry
points (train.py, tune.py, generate.py, sentiment.py, …) report it in one line naming the file, key or value
and what to do; any other exception is a bug in our code and keeps its traceback. It lives in `layers/`
because that is the package every other one imports, so data modules, models and tools can all raise it.

It subclasses ValueError so code that already catches ValueError (and tests that expect it) keeps working;
`MissingInputError` is also a FileNotFoundError for inputs that are not there at all.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user; the message says which file, key or value, and what to do."""


class MissingInputError(InputError, FileNotFoundError):
    """A file, folder or checkpoint the user named does not exist (or holds nothing to read)."""
