"""Builder paths: where a builder sits in its file, and the check that no name in a tree leaves the store."""

from __future__ import annotations

from hdmf.build import Builder, GroupBuilder, ReferenceBuilder

from ..core.names import check_name

__all__ = ["builder_path", "check_builder_names"]


def builder_path(builder: Builder) -> str:
    """Absolute POSIX path of a builder in its file (the root's own name is not part of it)."""
    if isinstance(builder, ReferenceBuilder):
        builder = builder.builder
    if builder.location is not None:
        loc = builder.location.rstrip("/")
        return f"{loc}/{builder.name}" if loc else f"/{builder.name}"
    names = []
    cur = builder
    while cur.parent is not None:
        names.append(cur.name)
        cur = cur.parent
    return "/" + "/".join(reversed(names))


def check_builder_names(builder: GroupBuilder) -> None:
    """Refuse (:class:`~zarrbridge.errors.UnsafeNameError`) a tree whose names could leave the store.

    Every group, dataset and link name below ``builder`` becomes a path component of the destination (a
    folder, a zip member, an object key): ``..``, ``.``, separators, NUL and other control characters are
    refused, and the whole tree is checked before anything is written. (The root's own name is not part of
    any path.)
    """
    stack: list[tuple[GroupBuilder, str]] = [(builder, "")]
    while stack:
        group, path = stack.pop()
        for kind, members in (("group", group.groups), ("dataset", group.datasets), ("link", group.links)):
            for key, sub in members.items():
                where = f"{path}/{sub.name}" if isinstance(sub.name, str) else path
                check_name(sub.name, what=f"{kind} name in {path or '/'!r}")
                if key != sub.name:
                    check_name(key, what=f"{kind} name in {path or '/'!r}")
                if isinstance(sub, GroupBuilder):
                    stack.append((sub, where))
