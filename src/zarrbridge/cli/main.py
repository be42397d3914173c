"""The ``zarrbridge`` command: argument parsing, one-line errors, warnings and exit codes.

Every subcommand lives in its own module with ``add_parser(subparsers, parents)`` and ``run(args, out)``.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import __version__
from ..errors import ZarrBridgeError
from . import convert, example, info, tree, validate

__all__ = ["build_parser", "main"]

PROG = "zarrbridge"
DESCRIPTION = """\
Inspect, validate and convert NWB/HDMF files stored as Zarr (current convention, legacy hdmf-zarr) or HDF5.
"""
EPILOG = """\
examples:
  zarrbridge example rec.nwb                       write the built-in example recording (HDF5)
  zarrbridge convert rec.nwb rec.nwb.zarr          HDF5 -> Zarr, keeping chunks and compression
  zarrbridge tree rec.nwb.zarr                     the hierarchy with types, shapes and compression
  zarrbridge info rec.nwb.zarr --json              convention, versions, sizes and object counts
  zarrbridge validate rec.nwb.zarr                 check against the cached specification
  zarrbridge convert rec.nwb s3://bucket/rec.nwb.zarr --storage-option endpoint_url=http://127.0.0.1:9000

Exit status: 0 on success, 1 if the file or an option value is wrong (or 'validate' finds problems),
2 for usage errors. Errors are one line on stderr; --debug shows the traceback.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: ``zarrbridge: error: ...``."""

    def error(self, message: str) -> NoReturn:
        hint = f"; see '{self.prog} --help'"
        sys.stderr.write(f"{PROG}: error: {message}{hint}\n")
        raise SystemExit(2)


def _storage_option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)  # numbers, true/false, {"nested": "objects"}
    except json.JSONDecodeError:
        parsed = value
    return key, parsed


def _common_options(*, suppress: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the subcommand (after: defaults suppressed,
    so before still counts)."""
    default = argparse.SUPPRESS if suppress else None
    parent = _Parser(add_help=False)
    group = parent.add_argument_group("common options")
    switches = (
        (("--debug",), "show the full traceback on errors"),
        (("-q", "--quiet"), "print only results and errors (no summaries, progress or warnings)"),
        (("--progress",), "show progress bars even when stderr is not a terminal"),
    )
    for flags, text in switches:
        group.add_argument(*flags, action="store_true", default=default if suppress else False, help=text)
    group.add_argument(
        "--storage-option",
        dest="storage_option",
        action="append",
        type=_storage_option,
        default=default if suppress else [],
        metavar="KEY=VALUE",
        help="fsspec option for s3:// and other URLs (repeatable; VALUE may be JSON)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The ``zarrbridge`` argument parser with all subcommands."""
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[_common_options(suppress=False)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    parents = [_common_options(suppress=True)]
    for module in (tree, info, validate, convert, example):
        module.add_parser(subparsers, parents)
    return parser


# warnings that say nothing a user of the command can act on (zarr's notes about its own spec status)
_NOISE = (
    "Consolidated metadata is currently not part",
    "Numcodecs codecs are not in the Zarr version 3",
    "The data type .* does not have a Zarr V3 specification",
)


# after a failed command, an io whose opening failed is collected unclosed; its warning repeats the error
_AFTER_ERROR = "was not closed before being garbage collected"


def _report_warnings(
    caught: list[warnings.WarningMessage], *, quiet: bool, debug: bool, failed: bool
) -> None:
    if quiet:
        return
    seen = set()
    for item in caught:
        if not debug and issubclass(item.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue
        if failed and not debug and _AFTER_ERROR in str(item.message):
            continue
        text = " ".join(str(item.message).split())
        if text not in seen:
            seen.add(text)
            sys.stderr.write(f"{PROG}: warning: {text}\n")


def _error_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (ZarrBridgeError, OSError, ValueError)):
        if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        return text
    return f"{type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``zarrbridge`` command and return its exit status.

    Parameters
    ----------
    argv
        The arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 for errors in the file or option values (and invalid files for ``validate``),
        2 for usage errors.

    Examples
    --------
    >>> main(["tree", "rec.nwb.zarr", "--depth", "1"])  # doctest: +SKIP
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    args.storage_options = dict(args.storage_option or [])
    status, error = 1, ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            status = args.run(args, sys.stdout)
        except KeyboardInterrupt:
            status, error = 130, "interrupted"
        except Exception as exc:  # the top of the command: every error becomes one line and exit status 1
            if args.debug:
                traceback.print_exc(file=sys.stderr)
            status, error = 1, _error_line(exc)
        finally:
            gc.collect()  # warnings of objects this command left behind are reported with it
            _report_warnings(caught, quiet=args.quiet, debug=args.debug, failed=status != 0)
    if error:
        sys.stderr.write(f"{PROG}: error: {error}\n")  # last, after any warnings
    return status


if __name__ == "__main__":
    raise SystemExit(main())
