"""One way to report a user's mistake: a `UserError` ends a command with one line on
stderr, `medlc <command>: <message>`, and exit code 2, never a traceback.

Every error that means "what you asked for cannot be done as asked" (a bad config, a
missing results folder, a malformed source file) subclasses `UserError`. A
FileNotFoundError is reported the same way: its message names the path the user gave.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

USER_ERROR_EXIT = 2  # argparse's own exit code for bad arguments


class UserError(Exception):
    """A mistake in what the user asked for; the message names the file, key and what
    was expected, and is shown as the whole error."""


def one_line(text: str) -> str:
    """The message on one line, so a CI log shows it whole next to the command's name."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def print_user_error(command: str, err: BaseException) -> int:
    """Print `medlc <command>: <message>` to stderr and return the exit code for it.

    Plain `print`, not rich: the message is user data (a model named `a [b] [/c]` must
    come out as written), and rich would read brackets as markup.
    """
    print(f"medlc {command}: {one_line(str(err))}", file=sys.stderr, flush=True)
    return USER_ERROR_EXIT


def reports_user_errors(command: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command's `func(args) -> int` so a UserError becomes one line and exit 2."""

    def decorate(func: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> int:
            try:
                return func(*args, **kwargs)
            except (UserError, FileNotFoundError) as err:
                return print_user_error(command, err)

        return wrapper

    return decorate
