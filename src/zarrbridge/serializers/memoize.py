"""``memoize``: cache a function's result in a result storage, keyed by its arguments and its code.

In the spirit of ``joblib.Memory``: the first call computes and saves the result (its dask arrays written to
array files by the storage's serializers); later calls with equal arguments load it instead.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from ..errors import InvalidOptionError
from .result_storage import ResultStorage, check_result_name

__all__ = ["MemoizedFunction", "memoize"]

P = ParamSpec("P")
R = TypeVar("R")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", text).lstrip(".-") or "_"


def _code_token(func: Callable[..., Any]) -> str:
    """A hash of the function's source (or byte code when the source is not available)."""
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        text = repr((code.co_code, code.co_consts)) if code is not None else repr(func)
    return hashlib.sha256(text.encode()).hexdigest()


class MemoizedFunction(Generic[P, R]):
    """A function whose results are cached in a :class:`ResultStorage`; see :func:`memoize`."""

    def __init__(
        self, func: Callable[P, R], *, storage: ResultStorage, prefix: str, restricted: bool
    ) -> None:
        if not callable(func):
            raise InvalidOptionError(f"memoize decorates functions, got {func!r}")
        if not isinstance(storage, ResultStorage):
            raise InvalidOptionError(
                f"memoize needs a result storage (storage_factory(...)), got {storage!r}"
            )
        self.func = func
        self.storage = storage
        self.restricted = restricted
        self.base = check_result_name(
            f"{prefix}/{_safe(func.__module__ or '_')}.{_safe(getattr(func, '__qualname__', 'function'))}"
        )
        self._code = _code_token(func)
        self._signature = inspect.signature(func)
        functools.update_wrapper(self, func)

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The result name a call with these arguments is saved under."""
        import dask
        from dask.base import tokenize

        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.func.__qualname__}(): {exc}") from exc
        bound.apply_defaults()
        try:
            with dask.config.set({"tokenize.ensure-deterministic": True}):
                token = tokenize(self._code, dict(bound.arguments))
        except RuntimeError as exc:
            raise InvalidOptionError(
                f"cannot hash the arguments of {self.func.__qualname__}() to cache its result ({exc}); pass "
                "arguments dask can tokenize deterministically (numbers, strings, numpy/dask arrays, "
                "dataclasses)"
            ) from exc
        return f"{self.base}/{token}"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        name = self.key(*args, **kwargs)
        if not self.storage.exists(name):
            self.storage.save(name, self.func(*args, **kwargs))
        result: R = self.storage.load(name, restricted=self.restricted)
        return result

    def is_cached(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Whether a call with these arguments would load a saved result."""
        return self.storage.exists(self.key(*args, **kwargs))

    def clear(self) -> int:
        """Remove every cached result of this function (any arguments, any version of its code).

        Arrays already loaded from them keep working; their files go at ``storage.collect_garbage()``.
        """
        names = self.storage.names(prefix=self.base + "/")
        for name in names:
            self.storage.remove(name)
        return len(names)


def memoize(
    storage: ResultStorage, *, prefix: str = "memoize", restricted: bool = False
) -> Callable[[Callable[P, R]], MemoizedFunction[P, R]]:
    """Cache the decorated function's results in ``storage``.

    Results are keyed by a hash of the arguments (bound to the signature, defaults applied, arrays hashed
    by content or graph) and of the function's source: editing the function starts a new cache. Functions it
    calls and globals it reads are not part of the key; call ``.clear()`` when those change. The returned
    value is always the loaded result, so dask arrays come back backed by the stored array files.

    Parameters
    ----------
    storage
        Where results go; register the serializers for the result's arrays on it first.
    prefix
        Folder of result names for the cache.
    restricted
        Load cached results in restricted mode (plain data, numpy arrays and registered serializers only).

    Returns
    -------
    callable
        A decorator; the function it returns has ``is_cached(*args)`` and ``clear()``.

    Examples
    --------
    >>> import tempfile, dask.array as da
    >>> from zarrbridge import DaskArraySerializer, storage_factory
    >>> storage = storage_factory({"kind": "file", "options": {"path": tempfile.mkdtemp()}})
    >>> storage.register_persistent_serializers(DaskArraySerializer)
    >>> @memoize(storage)
    ... def smooth(n: int) -> da.Array:
    ...     return da.ones(n, chunks=10).cumsum(axis=0)
    >>> int(smooth(100)[-1].compute()), smooth.is_cached(100)
    (100, True)
    """
    if not isinstance(storage, ResultStorage):
        raise InvalidOptionError(f"memoize needs a result storage (storage_factory(...)), got {storage!r}")
    check_result_name(prefix)

    def decorate(func: Callable[P, R]) -> MemoizedFunction[P, R]:
        return MemoizedFunction(func, storage=storage, prefix=prefix, restricted=restricted)

    return decorate
