"""Bad input ends in one line; a bug keeps its traceback.

Every entry point (train.py, generate.py, sentiment.py) runs inside `input_errors_in_one_line()`: an InputError
(lab_errors.py), also one that jsonargparse wrapped while building a model or data module, is printed as
`error: …` on stderr with exit status 2; any other exception propagates with its traceback. LAB_DEBUG=1 shows
the traceback of input errors too.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from lab_errors import InputError

DEBUG_HINT = "(LAB_DEBUG=1 shows the traceback)"


def one_line(message: str) -> str:
    """The most specific line of a nested jsonargparse message, prefixed by the key it is about."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    key = next((m.group(1) for ln in lines if (m := re.search(r'[Kk]ey "([^"]+)"', ln))), None)
    noise = (
        "Does not validate against",
        "Expected a <class 'NoneType'>",
        "Given value",
        "- Problem with",
        "Parser key",
        "Subtypes:",
        "Errors:",
    )
    useful = [ln.lstrip("- ") for ln in lines if not any(n in ln for n in noise)]
    detail = useful[0] if useful else (lines[0] if lines else "invalid arguments")
    return f"{key}: {detail}" if key and key not in detail else detail


def innermost(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The innermost exception of type `kind` in an exception's chain, or None: jsonargparse wraps what a
    constructor raised in messages of its own (with the arguments' reprs), and the original says best what is
    wrong."""
    found, seen = None, set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, kind):
            found = err
        err = err.__cause__ or err.__context__
    return found


def innermost_input_error(err: BaseException) -> InputError | None:
    """The innermost InputError of an exception's chain."""
    return innermost(err, InputError)


def exit_with(err: InputError) -> NoReturn:
    sys.stderr.write(f"error: {one_line(str(err))}\n{DEBUG_HINT}\n")
    sys.exit(2)


@contextmanager
def input_errors_in_one_line() -> Iterator[None]:
    try:
        yield
    except Exception as err:
        cause = innermost_input_error(err)
        if cause is None or os.environ.get("LAB_DEBUG"):
            raise
        exit_with(cause)
