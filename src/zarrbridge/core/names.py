"""Names that become paths: one check for every host.

Node names from containers, builders and HDF5 groups, names in consolidated listings, link and reference
targets, manifest entries and primary-key derived segments all end up as keys of a store, and so as files,
object names or zip members. A name must never reach outside the store it is written to or read from.

:func:`check_name` validates a single path component; :func:`check_relative_path` a ``/``-joined relative
path (every component checked); :func:`check_absolute_path` an HDMF-style absolute path inside a file
(``/acquisition/ts``).
"""

from __future__ import annotations

import unicodedata

from ..errors import UnsafeNameError

__all__ = ["check_absolute_path", "check_name", "check_relative_path", "has_control_characters"]


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character (NUL, newline, tab, DEL...)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def check_name(name: object, *, what: str = "name") -> str:
    """Return ``name`` if it can be one path component inside a store, else raise :class:`UnsafeNameError`.

    A component is a non-empty string that is not ``.`` or ``..`` and holds no ``/``, no ``\\`` and no
    control character (NUL included).

    Examples
    --------
    >>> check_name("ElectricalSeries", what="dataset name")
    'ElectricalSeries'
    """
    if not isinstance(name, str):
        raise UnsafeNameError(name, what, f"is a {type(name).__name__}, not a string")
    if not name:
        raise UnsafeNameError(name, what, "is empty")
    if name in (".", ".."):
        raise UnsafeNameError(name, what, "names the current or the parent folder")
    if "/" in name or "\\" in name:
        raise UnsafeNameError(name, what, "contains a path separator")
    if has_control_characters(name):
        raise UnsafeNameError(name, what, "contains a control character (NUL, newline, ...)")
    return name


def check_relative_path(path: object, *, what: str = "path") -> str:
    """Return ``path`` if it is a relative ``/``-joined path whose every component passes :func:`check_name`.

    Absolute paths (``/x``, ``C:...``), empty components (``a//b``) and trailing separators are refused.

    Examples
    --------
    >>> check_relative_path("acquisition/ts/data", what="array path")
    'acquisition/ts/data'
    """
    if not isinstance(path, str):
        raise UnsafeNameError(path, what, f"is a {type(path).__name__}, not a string")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise UnsafeNameError(path, what, "is absolute")
    for part in path.split("/"):
        check_name(part, what=f"component {part!r} of {what}")
    return path


def check_absolute_path(path: object, *, what: str = "path") -> str:
    """Return ``path`` if it is ``/`` or ``/`` followed by a path :func:`check_relative_path` accepts.

    Examples
    --------
    >>> check_absolute_path("/general/devices/array", what="link target")
    '/general/devices/array'
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise UnsafeNameError(path, what, "must be an absolute path inside the file, starting with '/'")
    if path != "/":
        check_relative_path(path[1:], what=what)
    return path
