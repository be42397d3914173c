"""``zarrbridge validate PATH``: check a file against the specification it caches (pynwb's validator)."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from typing import Any, TextIO

from ..errors import ZarrBridgeError
from .argtypes import FILE_HELP, Subparsers, subcommand
from .opening import FileKind, detect_kind, load_cached, open_file

__all__ = ["Problem", "add_parser", "find_problems", "run"]

EPILOG = """\
examples:
  zarrbridge validate rec.nwb.zarr
  zarrbridge validate rec.nwb                   an HDF5 NWB file (pynwb's validator)
  zarrbridge validate rec.nwb.zarr -q && echo valid
  zarrbridge validate rec.nwb.zarr --data       also read every chunk (local or remote)

Prints one '<path>: <problem>' line per problem and exits with status 1 if there is any, 0 if none.
The file is checked against the most specific namespaces it caches (an extension, else NWB core); a file
without a cached specification is checked against the NWB core that pynwb installs.

--data reads every chunk of every array: a chunk that does not decode is a problem, and so is a missing chunk
of an array zarrbridge wrote (it stores every chunk). In arrays other tools wrote a chunk may be missing on
purpose (it then reads as the fill value, as the zarr specification allows): those are listed as notes.
It also checks that the consolidated metadata lists every array as its own document describes it.
"""


def add_parser(subparsers: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    parser = subcommand(
        subparsers,
        parents,
        "validate",
        help="check the file against its cached specification",
        description="Validate an NWB/HDMF file (Zarr or HDF5) against the specification cached in it.",
        epilog=EPILOG,
        run=run,
    )
    parser.add_argument("path", help=FILE_HELP)
    parser.add_argument(
        "--data",
        action="store_true",
        help="also read every chunk and report missing or corrupt ones (reads the whole file)",
    )


@dataclass(frozen=True)
class Problem:
    """One validation problem: where (absolute path in the file) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _problem(error: Any) -> Problem:
    location = getattr(error, "location", None)
    name = str(getattr(error, "name", "") or "")
    reason = str(getattr(error, "reason", error))
    path = "/" + str(location).strip("/") if location else "/"
    field = name.rsplit("/", 1)[-1]
    if field and not path.rstrip("/").endswith("/" + field) and field not in reason:
        reason = f"{field}: {reason}"
    return Problem(path, " ".join(reason.split()))


def _catalog(*, nwb: bool) -> Any:
    """An empty namespace catalog: NWB's spec classes for NWB files (``neurodata_type``), hdmf's otherwise."""
    from hdmf.spec import NamespaceCatalog

    if not nwb:
        return NamespaceCatalog()
    try:
        from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespace
    except ImportError:
        return NamespaceCatalog()
    return NamespaceCatalog(
        group_spec_cls=NWBGroupSpec, dataset_spec_cls=NWBDatasetSpec, spec_namespace_cls=NWBNamespace
    )


def _most_specific(dependencies: dict[str, Any]) -> list[str]:
    """The namespaces no other cached namespace includes (what pynwb validates against)."""
    candidates = set(dependencies)
    for deps in dependencies.values():
        candidates -= set(deps)
    if "hdmf-experimental" in candidates:  # pynwb skips it (pynwb issue 1357): check what it includes instead
        candidates.discard("hdmf-experimental")
        if not candidates:
            candidates = set(dependencies["hdmf-experimental"]) & set(dependencies)
    return sorted(candidates)


def find_problems(
    path: str, *, storage_options: dict[str, Any] | None = None
) -> tuple[list[str], list[Problem]]:
    """Validate ``path``; return the namespaces checked (``"core 2.9.0"``) and the problems found, by path."""
    from hdmf.build import BuildManager, TypeMap
    from hdmf.validate import ValidatorMap

    kind: FileKind = detect_kind(path)
    options = dict(storage_options or {})
    catalog = _catalog(nwb=True)
    dependencies = load_cached(kind, path, catalog, options)
    if dependencies and "core" not in dependencies:  # a plain HDMF file: hdmf's spec classes (data_type)
        catalog = _catalog(nwb=False)
        dependencies = load_cached(kind, path, catalog, options)
    namespaces = _most_specific(dependencies)
    if not namespaces:
        from .opening import new_type_map

        warnings.warn(
            f"{path} caches no specification; checking it against the installed NWB core",
            UserWarning,
            stacklevel=2,
        )
        catalog = new_type_map().namespace_catalog
        namespaces = ["core"] if "core" in catalog.namespaces else ["hdmf-common"]
    manager = BuildManager(TypeMap(catalog))
    errors: list[Any] = []
    with open_file(path, storage_options=options, manager=manager) as opened:
        if opened.kind == "hdf5" and "core" in dependencies and _has_pynwb():
            from pynwb.validation import validate as pynwb_validate

            for namespace in namespaces:  # pynwb's own validator (it opens HDF5 ios only)
                errors += pynwb_validate(io=opened.io, namespace=namespace)
        else:  # what pynwb.validate does, for a ZarrIO (pynwb reloads namespaces through h5py-only calls)
            builder = opened.io.read_builder()
            for namespace in namespaces:
                errors += ValidatorMap(catalog.get_namespace(name=namespace)).validate(builder)
    problems = sorted({_problem(e) for e in errors}, key=lambda p: (p.path, p.message))
    return [f"{ns} {catalog.get_namespace(ns).version}" for ns in namespaces], problems


def _has_pynwb() -> bool:
    try:
        import pynwb  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace, out: TextIO) -> int:
    data_problems: list[Problem] = []
    summary = ""
    if getattr(args, "data", False):
        from ..progress import progress_wanted
        from .datacheck import check_data

        report = check_data(
            args.path,
            kind=detect_kind(args.path),
            storage_options=args.storage_options,
            progress=progress_wanted(forced=args.progress, quiet=args.quiet),
        )
        data_problems = [Problem(path, message) for path, message in report.problems]
        if not args.quiet:
            for path, note in report.notes:
                out.write(f"{path}: note: {note}\n")
        summary = f"; data: {report.arrays} arrays, {report.chunks} chunks read"
    try:
        namespaces, problems = find_problems(args.path, storage_options=args.storage_options)
    except ZarrBridgeError as exc:
        if not data_problems:
            raise
        # the damage found above also stops the specification check: report both
        namespaces, problems = ["(not checked)"], [Problem("/", f"specification check failed: {exc}")]
    problems = sorted({*problems, *data_problems}, key=lambda p: (p.path, p.message))
    for problem in problems:
        out.write(f"{problem}\n")
    if not args.quiet:
        checked = ", ".join(namespaces)
        verdict = f"{len(problems)} problem(s)" if problems else "valid"
        out.write(f"{args.path}: {verdict} (checked against {checked}{summary})\n")
    return 1 if problems else 0
