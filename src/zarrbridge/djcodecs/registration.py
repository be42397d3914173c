"""Register our codecs with DataJoint, refusing a name another package already owns.

DataJoint registers a codec when its class is defined and skips an entry point whose name is taken, so which
of two ``zarr`` codecs a table gets would depend on import order. We define our classes with ``register=False``
and register them here, raising :class:`~zarrbridge.errors.CodecNameClashError` (naming both owners) when the
name is registered by, or declared as a ``datajoint.codecs`` entry point of, another package.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from ..errors import CodecNameClashError

__all__ = ["ENTRY_POINT_GROUP", "register"]

ENTRY_POINT_GROUP = "datajoint.codecs"


def _qualified(cls: type[Any]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


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
        of that name in the ``datajoint.codecs`` group.
    """
    if registry is None:
        from datajoint.codecs import _codec_registry

        registry = _codec_registry
    assert registry is not None
    name: str = cls.name
    ours = _qualified(cls)
    existing = registry.get(name)
    if existing is not None:
        theirs = _qualified(type(existing))
        if type(existing) is cls or theirs == ours:  # same class (or the same module imported again)
            registry[name] = existing if type(existing) is cls else cls()
            return
        raise CodecNameClashError(name, ours, theirs)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name and ep.value != ours:
            dist = getattr(ep.dist, "name", None) or "an unknown package"
            raise CodecNameClashError(name, ours, f"{ep.value} (entry point of package {dist!r})")
    registry[name] = cls()
