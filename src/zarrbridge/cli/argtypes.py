"""Option value parsers shared by the subcommands (argparse reports their message after the option's name)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

Number = TypeVar("Number", int, float)


def at_least(kind: type[Number], minimum: Number) -> Callable[[str], Number]:
    """An argparse ``type=`` that reads an ``int`` or ``float`` no smaller than ``minimum`` (NaN refused)."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not value >= minimum:  # also catches NaN
            raise argparse.ArgumentTypeError(f"expected {minimum} or more, got {text!r}")
        return value

    return parse
