"""No orphaned arrays after a failed insert: a journal of the arrays written during one insert.

DataJoint calls a codec's ``encode`` (which must upload the array) *before* it sends the ``INSERT``, and
offers codecs no hook to learn whether that ``INSERT`` succeeded. Left alone, a duplicate key, a constraint
error or a lost database connection leaves the uploaded arrays in the store until someone
runs the garbage collector.

Decision: :func:`install_insert_guard` wraps ``datajoint.table.Table._insert_rows`` (the one method every
``insert``/``insert1`` goes through) once, when the codecs are imported. The wrapper opens a journal in a
:class:`contextvars.ContextVar`; our codecs record each array they write in it; if the insert raises, the
journal's arrays are removed before the exception propagates. With ``skip_duplicates=True`` the arrays of the
rows the database skipped are removed too. Inside a transaction (``populate``/``make``) the arrays are kept
until the transaction ends and removed if it is cancelled (``Connection.cancel_transaction`` is wrapped the
same way). Nothing else changes: other codecs and tables behave exactly as before.

These are private names of DataJoint, so they are checked where they are wrapped: the DataJoint version must
be one this was tested with (:data:`TESTED_VERSIONS`), and the methods must exist with the parameters the
wrappers pass on. Otherwise nothing is wrapped and one :class:`InsertGuardWarning` says so: inserts work as
DataJoint made them, and the arrays of failed inserts are left to DataJoint's own cleanup,
``dj.gc.GarbageCollector`` (they are schema-addressed paths no row references, which it removes).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from ..errors import ZarrBridgeWarning
from .stores import StoreTarget

__all__ = [
    "TESTED_VERSIONS",
    "InsertGuardWarning",
    "Written",
    "install_insert_guard",
    "record_write",
    "remove_written",
]

#: DataJoint (major, minor) releases whose private insert and transaction methods the guard was tested with.
TESTED_VERSIONS = ((2, 3), (2, 4))
_INSERT_PARAMETERS = ("self", "rows", "replace", "skip_duplicates", "ignore_extra_fields")


class InsertGuardWarning(ZarrBridgeWarning):
    """The insert guard is off: failed inserts leave their arrays for DataJoint's garbage collector."""


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Written:
    """One array written by a codec during an insert."""

    target: StoreTarget
    path: str
    field: str
    primary_key: dict[str, Any] = dc_field(hash=False)


_journal: contextvars.ContextVar[list[Written] | None] = contextvars.ContextVar(
    "zarrbridge_dj_journal", default=None
)
# DataJoint connections define __eq__ without __hash__: key by id, and keep a weak reference to check identity
_in_transaction: dict[int, tuple[weakref.ref[Any], list[Written]]] = {}
_install_lock = threading.Lock()
_MARK = "_zarrbridge_guarded"
_warned = False


def record_write(written: Written) -> None:
    """Add ``written`` to the journal of the insert in progress (no-op outside a guarded insert)."""
    journal = _journal.get()
    if journal is not None:
        journal.append(written)


def remove_written(entries: list[Written]) -> list[str]:
    """Remove the arrays in ``entries``; return messages for the ones that could not be removed."""
    failures = []
    for entry in entries:
        try:
            entry.target.remove(entry.path)
        except Exception as exc:  # keep removing the others; report every failure to the caller
            failures.append(f"{entry.target.label}:{entry.path}: {type(exc).__name__}: {exc}")
    return failures


def _defer(connection: Any, entries: list[Written]) -> None:
    ref, pending = _in_transaction.get(id(connection), (None, None))
    if ref is None or ref() is not connection or pending is None:
        pending = []
        _in_transaction[id(connection)] = (weakref.ref(connection), pending)
    pending.extend(entries)


def _take(connection: Any) -> list[Written]:
    ref, pending = _in_transaction.pop(id(connection), (None, None))
    return pending if ref is not None and ref() is connection and pending is not None else []


def _unreferenced(table: Any, entries: list[Written]) -> list[Written]:
    """The entries whose row does not reference their path (rows skipped as duplicates)."""
    out = []
    for entry in entries:
        attr = table.heading.attributes[entry.field]
        rows = (table & entry.primary_key).proj(entry.field).cursor(as_dict=True).fetchall()
        live = {p for row in rows for p, _ in attr.codec.referenced_paths(row[entry.field])}
        if entry.path not in live:
            out.append(entry)
    return out


def _guard_insert(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _insert_rows(
        self: Any, rows: Any, replace: Any, skip_duplicates: Any, ignore_extra_fields: Any
    ) -> Any:
        journal: list[Written] = []
        token = _journal.set(journal)
        try:
            result = original(self, rows, replace, skip_duplicates, ignore_extra_fields)
        except BaseException as exc:
            _journal.reset(token)
            failures = remove_written(journal)
            if failures:
                exc.add_note(
                    "zarrbridge could not remove arrays written for the failed insert: " + "; ".join(failures)
                )
            raise
        _journal.reset(token)
        if not journal:
            return result
        if skip_duplicates:
            skipped = _unreferenced(self, journal)
            failures = remove_written(skipped)
            if failures:
                logger.error("could not remove arrays of rows skipped as duplicates: %s", "; ".join(failures))
            gone = {e.path for e in skipped}
            journal = [e for e in journal if e.path not in gone]
        connection = self.connection
        if journal and connection.in_transaction:
            _defer(connection, journal)
        return result

    setattr(_insert_rows, _MARK, True)
    return _insert_rows


def _guard_cancel(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def cancel_transaction(self: Any) -> Any:
        try:
            return original(self)
        finally:
            failures = remove_written(_take(self))
            if failures:
                logger.error("could not remove arrays of a cancelled transaction: %s", "; ".join(failures))

    setattr(cancel_transaction, _MARK, True)
    return cancel_transaction


def _guard_commit(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def commit_transaction(self: Any) -> Any:
        result = original(self)
        _take(self)  # committed: the arrays now belong to live rows
        return result

    setattr(commit_transaction, _MARK, True)
    return commit_transaction


def _version(text: str) -> tuple[int, int] | None:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def guard_problem(datajoint: Any, table: Any, connection: Any) -> str:
    """Why the guard cannot wrap this DataJoint (empty when it can)."""
    found = str(getattr(datajoint, "__version__", "unknown"))
    if _version(found) not in TESTED_VERSIONS:
        tested = ", ".join(f"{a}.{b}" for a, b in TESTED_VERSIONS)
        return f"DataJoint {found} is not a release it was tested with ({tested})"
    missing = [
        f"{cls.__name__}.{name}"
        for cls, name in (
            (table, "_insert_rows"),
            (connection, "cancel_transaction"),
            (connection, "commit_transaction"),
        )
        if not callable(getattr(cls, name, None))
    ]
    if missing:
        return f"DataJoint {found} has no {', '.join(missing)}"
    try:
        names = tuple(inspect.signature(table._insert_rows).parameters)
    except (TypeError, ValueError):
        names = ()
    if getattr(table._insert_rows, _MARK, False):
        return ""
    if names != _INSERT_PARAMETERS:
        return f"DataJoint {found}'s Table._insert_rows takes {names}, not {_INSERT_PARAMETERS}"
    return ""


def install_insert_guard() -> bool:
    """Wrap DataJoint's insert and transaction methods once; return whether the guard is active.

    Warns (:class:`InsertGuardWarning`, once) and wraps nothing when this DataJoint's version or private
    methods are not the ones the guard was tested with: inserts still work, and arrays of failed inserts are
    then left for ``dj.gc.GarbageCollector``.
    """
    import datajoint
    from datajoint.connection import Connection
    from datajoint.table import Table

    targets = [
        (Table, "_insert_rows", _guard_insert),
        (Connection, "cancel_transaction", _guard_cancel),
        (Connection, "commit_transaction", _guard_commit),
    ]
    with _install_lock:
        problem = guard_problem(datajoint, Table, Connection)
        if problem:
            global _warned
            if not _warned:
                _warned = True
                warnings.warn(
                    f"zarrbridge's insert guard is off: {problem}. Inserts work as usual, but the arrays of "
                    "an insert that fails stay in the store until DataJoint's garbage collector "
                    "(dj.gc.GarbageCollector(schema).collect()) removes them.",
                    InsertGuardWarning,
                    stacklevel=2,
                )
            return False
        for cls, name, wrap in targets:
            current = getattr(cls, name)
            if not getattr(current, _MARK, False):
                setattr(cls, name, wrap(current))
    return True
