"""Register our codecs with DataJoint: one owner per name, the same whatever the import order.

DataJoint registers a codec when its class is defined, and while loading ``datajoint.codecs`` entry points it
skips a name that is already registered and only logs an entry point that fails. With two packages providing
``zarr``, which one a table gets would depend on the order in which the file system lists the installed
distributions. We define our classes with ``register=False`` and register them here:

- a name also provided by a package whose rows our codec reads (``zarr`` by dj-zarr-codecs: see
  :mod:`zarrbridge.djcodecs.foreign`) is taken by zarrbridge whichever of the two DataJoint loaded first
  (replacing the other's registry entry if needed), with one :class:`~zarrbridge.errors.CodecReplacedWarning`
  per process naming both packages and what to do (``<photon>`` has no such package: dj-photon-codecs
  rows are not read);
- a name registered by, or declared as a ``datajoint.codecs`` entry point of, any other package raises
  :class:`~zarrbridge.errors.CodecNameClashError` naming both owners (and warns with the same text, since
  DataJoint turns an exception raised while it loads an entry point into a log line).
"""

from __future__ import annotations

import threading
import warnings
from importlib.metadata import entry_points
from typing import Any

from ..errors import CodecNameClashError, CodecReplacedWarning, ZarrBridgeWarning

__all__ = ["ENTRY_POINT_GROUP", "REPLACEABLE", "register"]

ENTRY_POINT_GROUP = "datajoint.codecs"

#: codec name -> (distribution, top-level module) of the package zarrbridge replaces for that name.
REPLACEABLE: dict[str, tuple[str, str]] = {"zarr": ("dj-zarr-codecs", "dj_zarr_codecs")}

_warned: set[str] = set()
_lock = threading.Lock()


def _qualified(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _normalized(dist: str) -> str:
    return dist.lower().replace("_", "-").replace(".", "-")


def _warn_replaced(name: str, ours: str, theirs: str) -> None:
    dist = REPLACEABLE[name][0]
    with _lock:
        if name in _warned:
            return
        _warned.add(name)
    warnings.warn(
        f"both zarrbridge and {dist} provide the DataJoint codec <{name}> ({ours} and {theirs}); "
        f"zarrbridge's is used, whichever DataJoint loads first. It fetches every row {dist} wrote (zarr v3 "
        f"and v2 arrays) and writes rows {dist} can open as plain zarr arrays. To silence this warning, "
        f"uninstall one of them: `pip uninstall {dist}` to keep zarrbridge, or `pip uninstall zarrbridge` to "
        "go back (see zarrbridge's docs/migrating-from-dj-zarr-codecs.md).",
        CodecReplacedWarning,
        stacklevel=3,
    )


def _clash(name: str, ours: str, theirs: str) -> CodecNameClashError:
    error = CodecNameClashError(name, ours, theirs)
    warnings.warn(str(error), ZarrBridgeWarning, stacklevel=3)
    return error


def register(cls: type[Any], *, registry: dict[str, Any] | None = None) -> None:
    """Put an instance of ``cls`` in DataJoint's codec registry under ``cls.name``.

    Parameters
    ----------
    cls
        A :class:`datajoint.Codec` subclass defined with ``register=False``.
    registry
        The registry to use (DataJoint's own by default; tests pass a copy).

    Raises
    ------
    CodecNameClashError
        Another class owns ``cls.name`` in the registry, or another installed package declares an entry point
        of that name in the ``datajoint.codecs`` group, and it is not a package listed in :data:`REPLACEABLE`
        for that name.
    """
    if registry is None:
        from datajoint.codecs import _codec_registry

        registry = _codec_registry
    assert registry is not None
    name: str = cls.name
    ours = _qualified(cls)
    replaceable = REPLACEABLE.get(name)
    existing = registry.get(name)
    if existing is not None:
        theirs = _qualified(type(existing))
        if type(existing) is cls or theirs == ours:  # same class (or the same module imported again)
            registry[name] = existing if type(existing) is cls else cls()
            return
        if replaceable is not None and type(existing).__module__.split(".")[0] == replaceable[1]:
            registry[name] = cls()
            _warn_replaced(name, ours, theirs)
            return
        raise _clash(name, ours, theirs)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name or ep.value == ours:
            continue
        dist = getattr(ep.dist, "name", None) or "an unknown package"
        if replaceable is not None and _normalized(dist) == replaceable[0]:
            _warn_replaced(name, ours, f"{ep.value} (entry point of package {dist!r})")
            continue
        raise _clash(name, ours, f"{ep.value} (entry point of package {dist!r})")
    registry[name] = cls()
