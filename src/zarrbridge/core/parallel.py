"""Running many small independent tasks (chunk copies) on threads or on a ``dask.distributed`` client.

At most a bounded number of tasks are in flight at a time, so memory stays bounded by
``in_flight x one task's data`` however many tasks there are. A ``client`` is duck-typed (anything with
``submit(fn, *args, pure=False)`` returning futures with ``result()``), so the core never imports dask.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from ..errors import InvalidOptionError

__all__ = ["TaskClient", "check_jobs", "map_bounded"]

T = TypeVar("T")
R = TypeVar("R")


class _Future(Protocol):
    def result(self) -> Any: ...

    def add_done_callback(self, fn: Callable[[Any], Any]) -> Any: ...


class TaskClient(Protocol):
    """What :func:`map_bounded` needs from a ``dask.distributed.Client``."""

    def submit(self, func: Callable[..., Any], *args: Any, pure: bool = ...) -> Any: ...


def check_jobs(number_of_jobs: Any) -> int:
    """Validate a ``number_of_jobs`` argument (a positive int)."""
    if isinstance(number_of_jobs, bool) or not isinstance(number_of_jobs, int) or number_of_jobs < 1:
        raise InvalidOptionError(f"number_of_jobs must be a positive integer, got {number_of_jobs!r}")
    return number_of_jobs


def map_bounded(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    client: TaskClient | None = None,
    in_flight: int | None = None,
) -> Iterator[R]:
    """Yield ``func(item)`` for every item as the tasks complete, with at most ``in_flight`` tasks pending.

    With ``client`` the tasks run on the cluster's workers (``func`` and items must pickle); otherwise on
    ``workers`` threads (``workers=1`` runs inline, in order). Results come in the order the tasks complete
    (on a cluster: as the cluster completes them), so a progress count follows the work done. The first
    failing task's exception propagates and no further task is started.
    """
    workers = check_jobs(workers)
    if client is None and workers == 1:
        for item in items:
            yield func(item)
        return
    limit = in_flight or 2 * workers
    if client is not None:
        submit: Callable[[T], _Future] = lambda item: client.submit(func, item, pure=False)  # noqa: E731
        yield from _drain(submit, items, limit)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zarrbridge-copy") as pool:
        yield from _drain(lambda item: pool.submit(func, item), items, limit)


def _drain(submit: Callable[[Any], _Future], items: Iterable[Any], limit: int) -> Iterator[Any]:
    finished: queue.SimpleQueue[_Future] = queue.SimpleQueue()
    pending: dict[int, _Future] = {}

    def next_result() -> Any:
        fut = finished.get()
        del pending[id(fut)]
        return fut.result()

    try:
        for item in items:
            fut = submit(item)
            pending[id(fut)] = fut
            fut.add_done_callback(finished.put)  # (threads and distributed futures both call it when done)
            if len(pending) >= limit:
                yield next_result()
        while pending:
            yield next_result()
    finally:
        for fut in pending.values():  # after a failure: stop what has not started, wait for nothing else
            cancel = getattr(fut, "cancel", None)
            if cancel is not None:
                cancel()
