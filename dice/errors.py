"""The suite's user-facing error: one line that names the file and the problem.

The command line catches `DiceError` and prints ``error: <message>`` with exit status 2,
never a traceback. Code raises it wherever a user's input (a file, a config value) is wrong.
"""

from __future__ import annotations

from pathlib import Path


class DiceError(Exception):
    """A problem with the user's input, reported as one line."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        text = f"{path}: {message}" if path is not None else message
        super().__init__(" ".join(text.split()))
