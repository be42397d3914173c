"""A byte-counting progress bar on stderr (tqdm), shown only on a terminal or when asked for."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO

from .._optional import import_optional

__all__ = ["ByteProgress", "progress_wanted"]


def progress_wanted(*, forced: bool, quiet: bool, stream: TextIO | None = None) -> bool:
    """Show a bar if ``--progress`` was given, or if stderr is a terminal and ``--quiet`` was not."""
    if forced:
        return True
    if quiet:
        return False
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


class ByteProgress:
    """A context manager whose instances are ``progress(bytes_done_increment, bytes_total)`` callbacks.

    The bar is created on the first call (when the total is known); a disabled instance ignores calls.

    Examples
    --------
    >>> with ByteProgress("copying", enabled=False) as progress:
    ...     progress(10, 100)
    """

    def __init__(self, description: str, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.description = description
        self.enabled = enabled
        self.stream = stream
        self.done = 0
        self._bar: Any = None
        if enabled:
            self._tqdm = import_optional("tqdm", extra="nwb", feature="progress bars").tqdm

    def __call__(self, increment: int, total: int) -> None:
        self.done += increment
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = self._tqdm(
                total=total,
                desc=self.description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self.stream if self.stream is not None else sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        elif self._bar.total != total:
            self._bar.total = total
        self._bar.update(increment)

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
