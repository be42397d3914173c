"""Import optional dependencies on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["import_optional"]


def import_optional(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``extra``.

    Examples
    --------
    >>> np = import_optional("numpy", extra="core", feature="arrays")
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise  # the package is there but one of its own imports is broken: show the real error
        raise MissingDependencyError(top, extra, feature) from exc
