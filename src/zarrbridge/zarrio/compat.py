"""hdmf-zarr's arguments that zarrbridge accepts: checked here, documented in ``docs/hdmf-zarr-api.md``.

Some have no meaning with zarr-python 3 and zarrbridge's writer (``synchronizer``, ``object_codec_class``,
``max_threads_per_process``, ``multiprocessing_context``); they are accepted where a value has an obvious
"nothing to do" reading, and refused with :class:`~zarrbridge.errors.InvalidOptionError` where honouring
them is impossible (a pickle object codec, an unknown multiprocessing context).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

from ..core.location import Location
from ..errors import InvalidOptionError

__all__ = ["HdmfZarrOptions", "check_parallel_args", "constructor_options", "remove_for_overwrite"]

MP_CONTEXTS = (None, "fork", "spawn", "forkserver")


@dataclass(frozen=True)
class HdmfZarrOptions:
    """The hdmf-zarr constructor arguments, as given (kept for the ``synchronizer``... properties)."""

    synchronizer: Any = None
    object_codec_class: Any = None
    storage_options: dict[str, Any] | None = None
    force_overwrite: bool = False


def constructor_options(
    synchronizer: Any, object_codec_class: Any, storage_options: dict[str, Any] | None, force_overwrite: Any
) -> HdmfZarrOptions:
    """Check hdmf-zarr's constructor arguments, positional forms of 0.13 and 0.14 both.

    hdmf-zarr 0.13's order is ``(path, mode, manager, synchronizer, object_codec_class, storage_options,
    force_overwrite)``; 0.14 dropped the two zarr-2 arguments, so its fourth positional argument is
    ``storage_options`` (a dict) and its fifth ``force_overwrite``. A dict in the
    fourth place is read as 0.14's.
    """
    if isinstance(synchronizer, dict):
        if storage_options is not None:
            raise InvalidOptionError("storage_options given twice (positionally and by name)")
        storage_options, synchronizer = synchronizer, None
        if isinstance(object_codec_class, bool):
            force_overwrite, object_codec_class = object_codec_class, None
    if synchronizer is not None and not isinstance(synchronizer, bool):
        raise InvalidOptionError(
            f"synchronizer={synchronizer!r}: zarr-python 3 has no synchronizers; zarrbridge never writes one "
            "chunk from two tasks, so pass None (or True/False, accepted without effect)"
        )
    if object_codec_class is not None:
        name = getattr(object_codec_class, "codec_id", getattr(object_codec_class, "__name__", ""))
        if str(name).lower() not in ("json", "json2"):
            raise InvalidOptionError(
                f"object_codec_class={object_codec_class!r}: zarrbridge stores references as path strings "
                "(the current convention) and never writes pickled objects; pass None (numcodecs.JSON is "
                "accepted without effect)"
            )
    if not isinstance(force_overwrite, bool):
        raise InvalidOptionError(f"force_overwrite must be True or False, not {force_overwrite!r}")
    return HdmfZarrOptions(synchronizer, object_codec_class, storage_options, force_overwrite)


def remove_for_overwrite(location: Location) -> None:
    """hdmf-zarr's ``force_overwrite``: remove whatever is at a local path
    (an HDF5 file too) before mode 'w'."""
    if location.kind not in ("local", "zip") or not os.path.lexists(location.path):
        return
    if os.path.isdir(location.path) and not os.path.islink(location.path):
        shutil.rmtree(location.path)
    else:
        os.remove(location.path)


def check_parallel_args(
    *, number_of_jobs: Any, max_threads_per_process: Any, multiprocessing_context: Any
) -> None:
    """Validate hdmf-zarr's parallel-write arguments (the last two have no effect:
    zarrbridge uses threads)."""
    if isinstance(number_of_jobs, bool) or not isinstance(number_of_jobs, int) or number_of_jobs < 1:
        raise InvalidOptionError(f"number_of_jobs must be a positive integer, not {number_of_jobs!r}")
    if max_threads_per_process is not None and (
        isinstance(max_threads_per_process, bool)
        or not isinstance(max_threads_per_process, int)
        or max_threads_per_process < 1
    ):
        raise InvalidOptionError(
            f"max_threads_per_process must be a positive integer or None, not {max_threads_per_process!r}"
        )
    if multiprocessing_context not in MP_CONTEXTS:
        raise InvalidOptionError(
            f"multiprocessing_context must be one of {MP_CONTEXTS}, not {multiprocessing_context!r}"
        )
