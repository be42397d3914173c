"""Progress of long operations, counted in bytes: the ``progress=`` argument of the library and the CLI's bar.

Every long operation (export, convert, serializer saves and loads, data validation) takes ``progress=``:

- ``None`` or ``False`` (the default in library calls): nothing is shown;
- ``True``: a tqdm bar on stderr (``tqdm`` is installed with the ``nwb`` and ``dask`` extras);
- a tqdm-compatible class (``tqdm.tqdm``, ``tqdm.auto.tqdm``, ``tqdm.notebook.tqdm``...): instantiated with
  ``total=`` (bytes), ``desc=``, ``unit="B"``, ``unit_scale=True``, ``unit_divisor=1024``, then called with
  ``update(n)`` and ``close()``;
- a callable: called with the number of bytes done since its previous call (the calls add up to the bytes of
  the operation).

:class:`ByteProgress` turns any of these into one thread-safe counter. Work that runs on a
``distributed`` cluster reports each task when the cluster has completed it, in the order the tasks complete.

Serializers follow Function Fuse's contract (``pickle(obj, protocols)``), which has no room for an argument:
the storages' ``save``/``load`` (or a caller, with :func:`reporting`) make a :class:`ByteProgress` current and
the serializers report to :func:`current` (a context variable, so concurrent saves do not mix).

This module is shared by the host subpackages and the CLI; it imports tqdm only when a bar is asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TextIO

from ._optional import import_optional
from .errors import InvalidOptionError

__all__ = ["ByteProgress", "ProgressOption", "check_progress", "current", "progress_wanted", "reporting"]

ProgressOption = bool | None | type | Callable[[int], Any]
"""What ``progress=`` accepts: ``None``/``False``, ``True``, a tqdm-compatible class, or a callable."""

_CURRENT: contextvars.ContextVar[ByteProgress | None] = contextvars.ContextVar(
    "zarrbridge_progress", default=None
)


def check_progress(progress: Any, *, where: str = "progress") -> ProgressOption:
    """Return ``progress`` if it is a valid ``progress=`` value, else raise :class:`InvalidOptionError`.

    Parameters
    ----------
    progress : object
        The value given for ``progress=``.
    where : str
        How the error names the argument (``"export(progress=)"``).

    Returns
    -------
    None, bool, type or callable
        ``progress`` itself.
    """
    if progress is None or isinstance(progress, bool):
        return progress
    if isinstance(progress, type):
        if not (callable(getattr(progress, "update", None)) and callable(getattr(progress, "close", None))):
            raise InvalidOptionError(
                f"{where}: the class {progress.__name__} is not tqdm-compatible (it needs update() and "
                "close()); pass True, a tqdm class, or a callable taking the bytes done"
            )
        return progress
    if callable(progress):
        return progress  # type: ignore[no-any-return]
    raise InvalidOptionError(
        f"{where} must be True/False/None, a tqdm-compatible class, or a callable taking the bytes done; "
        f"got {type(progress).__name__} {progress!r}"
    )


def progress_wanted(*, forced: bool, quiet: bool, stream: TextIO | None = None) -> bool:
    """For the CLI: show a bar if ``--progress`` was given, or if stderr is a terminal and not ``--quiet``.

    Parameters
    ----------
    forced : bool
        ``--progress`` was given.
    quiet : bool
        ``--quiet`` was given.
    stream : file object, optional
        The stream the bar would go to (stderr by default).

    Returns
    -------
    bool
        Whether to show a bar.
    """
    if forced:
        return True
    if quiet:
        return False
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


class ByteProgress:
    """A thread-safe byte counter that reports to what ``progress=`` asked for.

    Instances are callables ``progress(increment)``; they are context managers that close a bar on exit.

    Parameters
    ----------
    progress
        A ``progress=`` value (see the module docstring); checked with :func:`check_progress`.
    total
        The bytes the operation will handle, if known; :meth:`add_total` grows it.
    description
        The bar's label.
    stream
        Where ``progress=True`` draws its bar (stderr by default).

    Examples
    --------
    >>> seen = []
    >>> with ByteProgress(seen.append, total=100, description="copy") as progress:
    ...     progress(40)
    ...     progress(60)
    >>> seen, progress.done
    ([40, 60], 100)
    """

    def __init__(
        self,
        progress: ProgressOption,
        *,
        total: int | None = None,
        description: str = "",
        stream: TextIO | None = None,
    ) -> None:
        self.option = check_progress(progress)
        self.total = total
        self.description = description
        self.stream = stream
        self.done = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._callback: Callable[[int], Any] | None = None
        self._bar_class: Any = None
        if self.option is True:
            self._bar_class = import_optional("tqdm", extra="nwb", feature="progress bars").tqdm
        elif isinstance(self.option, type):
            self._bar_class = self.option
        elif callable(self.option):
            self._callback = self.option

    @property
    def enabled(self) -> bool:
        """Whether anything is reported."""
        return self._bar_class is not None or self._callback is not None

    def add_total(self, nbytes: int) -> None:
        """Grow the expected total by ``nbytes`` (for operations that discover their work as they go).

        Parameters
        ----------
        nbytes : int
            Bytes of work found.
        """
        with self._lock:
            self.total = (self.total or 0) + int(nbytes)
            if self._bar is not None:
                self._bar.total = self.total
                refresh = getattr(self._bar, "refresh", None)
                if callable(refresh):
                    refresh()

    def __call__(self, increment: int) -> None:
        increment = int(increment)
        with self._lock:
            self.done += increment
            if self._callback is not None:
                self._callback(increment)
            elif self._bar_class is not None:
                self._open_bar().update(increment)

    def _open_bar(self) -> Any:
        if self._bar is None:
            kwargs: dict[str, Any] = {
                "total": self.total,
                "desc": self.description,
                "unit": "B",
                "unit_scale": True,
                "unit_divisor": 1024,
            }
            if self.option is True:
                kwargs.update(file=self.stream or sys.stderr, dynamic_ncols=True, leave=False)
            self._bar = self._bar_class(**kwargs)
        return self._bar

    def close(self) -> None:
        """Close the bar (a zero-byte operation still shows its bar once)."""
        with self._lock:
            if self._bar_class is not None and self._bar is None and self.done == 0 and self.total == 0:
                self._open_bar()
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def current() -> ByteProgress | None:
    """The :class:`ByteProgress` made current by :func:`reporting` in this context, if any.

    Returns
    -------
    ByteProgress or None
        The current reporter.
    """
    return _CURRENT.get()


@contextlib.contextmanager
def reporting(
    progress: ProgressOption | ByteProgress, *, description: str = "", total: int | None = None
) -> Iterator[ByteProgress]:
    """Make a :class:`ByteProgress` current for the serializers (and close it at the end).

    Parameters
    ----------
    progress : None, bool, type, callable or ByteProgress
        What ``progress=`` asked for (a :class:`ByteProgress` is made current as it is).
    description : str
        The bar's label.
    total : int, optional
        The expected bytes, if known.

    Yields
    ------
    ByteProgress
        The current reporter.

    Examples
    --------
    >>> import dask.array as da, tempfile
    >>> from zarrbridge.serializers import FILE_PROTOCOL, LocalFiles, DaskHDF5Serializer
    >>> seen = []
    >>> protocols = {FILE_PROTOCOL: LocalFiles(tempfile.mkdtemp())}
    >>> with reporting(seen.append):
    ...     pid = DaskHDF5Serializer.pickle(da.ones(10, chunks=5), protocols)
    >>> sum(seen)
    80
    """
    owned = not isinstance(progress, ByteProgress)
    reporter = ByteProgress(progress, total=total, description=description) if owned else progress
    assert isinstance(reporter, ByteProgress)
    token = _CURRENT.set(reporter)
    try:
        yield reporter
    finally:
        _CURRENT.reset(token)
        if owned:
            reporter.close()
