"""What Function Fuse's workflows call on a storage, on top of zarrbridge's named results.

Function Fuse's backends run a workflow against a storage with ``new_workflow(workflow)``, then for every
node ``read_task(workflow, task)`` (a ``FileNotFoundError`` means "compute it"), ``save(workflow, task,
result)`` and, with ``always_read``, ``read_task`` again; users list and remove results with ``list_tasks``,
``file_exists``, ``remove_task`` and ``remove_workflow``. Here the result of a task is the zarrbridge result
named ``<workflow>/<task>``, so both APIs see the same results.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Protocol

from ..core.names import check_relative_path
from ..errors import InvalidOptionError

__all__ = ["WorkflowMethods"]


class _Results(Protocol):
    """The result methods :class:`WorkflowMethods` builds on (those of ``ResultStorage``)."""

    def exists(self, name: str) -> bool: ...

    def names(self, *, prefix: str = "") -> list[str]: ...

    def load(
        self, name: str, *, restricted: bool = False, allowed: frozenset[tuple[str, str]] = frozenset()
    ) -> Any: ...

    def remove(self, name: str) -> None: ...


def _workflow(workflow: Any) -> str:
    return check_relative_path(workflow, what="workflow name")


class WorkflowMethods:
    """Function Fuse's storage methods (mixed into :class:`~zarrbridge.serializers.ResultStorage`).

    ``save(workflow, task, obj)`` is ``ResultStorage.save`` called with three arguments. Results are read
    without restriction, as Function Fuse does; use ``load(f"{workflow}/{task}", restricted=True)`` for
    results of others.
    """

    always_read: bool
    """Function Fuse's backends read every result back right after saving it when this is true."""

    def new_workflow(self, workflow_name: str) -> None:
        """Start a workflow's results (nothing to create: a result's folders appear with it)."""
        _workflow(workflow_name)

    def file_exists(self: _Results, workflow_name: str, filename: str) -> bool:
        """Whether the task ``filename`` of ``workflow_name`` has a saved result."""
        return self.exists(f"{_workflow(workflow_name)}/{filename}")

    def read_task(self: _Results, workflow_name: str, task_name: str) -> Any:
        """The saved result of a task; a :class:`~zarrbridge.errors.ResultNotFoundError` (a
        ``FileNotFoundError``) if there is none, which tells a workflow to compute it."""
        return self.load(f"{_workflow(workflow_name)}/{task_name}")

    def list_tasks(self: _Results, workflow_name: str, pattern: str) -> list[str]:
        """The tasks of ``workflow_name`` with a saved result whose name matches the glob ``pattern``,
        sorted."""
        prefix = f"{_workflow(workflow_name)}/"
        if not isinstance(pattern, str):
            raise InvalidOptionError(f"pattern must be a glob pattern (str), got {pattern!r}")
        tasks = (name[len(prefix) :] for name in self.names(prefix=prefix))
        return sorted(t for t in tasks if "/" not in t and fnmatch.fnmatchcase(t, pattern))

    def remove_task(
        self: _Results, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        """Remove the result of ``task_name``, or of every task matching ``pattern`` (which wins if given).

        A missing ``task_name`` is a ``FileNotFoundError``, as in Function Fuse.
        """
        if pattern:
            for task in WorkflowMethods.list_tasks(self, workflow_name, pattern):
                self.remove(f"{workflow_name}/{task}")
            return
        if task_name is None:
            raise InvalidOptionError("remove_task() needs task_name or pattern")
        self.remove(f"{_workflow(workflow_name)}/{task_name}")

    def remove_workflow(self: _Results, workflow_name: str) -> None:
        """Remove every result of ``workflow_name``; a workflow with none is fine."""
        for name in self.names(prefix=f"{_workflow(workflow_name)}/"):
            self.remove(name)
