"""What the subcommands share: their parser's set-up, and option value parsers (argparse reports their message
after the option's name)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TextIO, TypeAlias, TypeVar

Number = TypeVar("Number", int, float)
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[[argparse.Namespace, TextIO], int]

#: The ``path`` argument of the subcommands that read any file.
FILE_HELP = "the file: a .zarr directory, .zip, s3:// URL, or an HDF5 (.nwb/.h5) file"


def subcommand(
    subparsers: Subparsers,
    parents: list[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
    epilog: str,
    run: Run,
) -> argparse.ArgumentParser:
    """The parser of the subcommand ``name``, with the common options and ``epilog`` shown as written."""
    parser = subparsers.add_parser(
        name,
        parents=parents,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


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
