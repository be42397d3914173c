"""Schema-addressed object paths, built by DataJoint's own helpers and checked before anything is written.

DataJoint builds ``{schema_prefix}/{schema}/{table}/{pk}={value}/.../{field}_{token}{ext}`` with
:func:`datajoint.storage.build_object_path` (through ``SchemaCodec._build_path``), percent-encoding
primary-key values that contain path separators and shortening very long ones with a hash suffix. Its garbage
collector walks ``{schema_prefix}/{schema}/`` and keeps every file under a path a live row references, so
using exactly these paths is what makes it recognise our arrays.

:func:`check_object_path` is the last line of defence: whatever the key values and store settings
(``schema_prefix``, ``partition_pattern``), the path must stay inside the store's location and fit the key
length limits of object stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.names import check_relative_path, has_control_characters
from ..errors import LocationError

__all__ = ["MAX_OBJECT_PATH_BYTES", "MAX_SEGMENT_BYTES", "check_object_path", "check_primary_key"]

# S3 keys are at most 1024 bytes; keep room for zarr's own keys inside the array
# ("c/123/456/789", "zarr.json")
MAX_OBJECT_PATH_BYTES = 900
# most filesystems limit one path segment to 255 bytes
MAX_SEGMENT_BYTES = 255


def check_primary_key(primary_key: Mapping[str, Any]) -> None:
    """Refuse primary-key values that cannot become part of a storage path.

    Path separators (``/``, ``\\``), ``..`` and over-long strings are fine: DataJoint percent-encodes or
    hashes them, so they cannot leave the table's folder. Control characters (NUL, newline, ...) are refused:
    DataJoint passes them through, and no object store names a file with them portably.

    Raises
    ------
    LocationError
        A value contains control characters.
    """
    for name, value in primary_key.items():
        if isinstance(value, (str, bytes)):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if has_control_characters(text):
                raise LocationError(
                    f"{name}={value!r}",
                    "primary-key values stored in paths must not contain control characters (NUL, newline, "
                    "tab...); use a key without them",
                )


def check_object_path(path: str) -> str:
    """Return ``path`` if it is a safe relative object path inside a store, else raise.

    A safe path is relative, has no empty, ``.`` or ``..`` segment, no backslash or control character, no
    segment longer than :data:`MAX_SEGMENT_BYTES` and at most :data:`MAX_OBJECT_PATH_BYTES` bytes in all.

    Raises
    ------
    LocationError
        The path would escape the store's location (:class:`~zarrbridge.errors.UnsafeNameError`, from
        :func:`zarrbridge.core.names.check_relative_path`) or is too long for object stores.

    Examples
    --------
    >>> check_object_path("_schema/lab/recording/recording_id=1/waveform_Ab12Cd34.zarr")
    '_schema/lab/recording/recording_id=1/waveform_Ab12Cd34.zarr'
    """
    if not isinstance(path, str) or not path:
        raise LocationError(path, "an object path must be a non-empty string")
    # relative, no empty, "." or ".." segment, no backslash, NUL or other control character (UnsafeNameError,
    # a LocationError); then DataJoint's own limits: segment and path lengths of object stores
    check_relative_path(path, what="object path (check the store's schema_prefix/partition_pattern settings)")
    for segment in path.split("/"):
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise LocationError(
                path,
                f"segment {segment[:40]!r}... is longer than {MAX_SEGMENT_BYTES} bytes; shorten the "
                "table, attribute or key names",
            )
    if len(path.encode()) > MAX_OBJECT_PATH_BYTES:
        raise LocationError(
            path[:80] + "...",
            f"the path is {len(path.encode())} bytes long, more than the "
            f"{MAX_OBJECT_PATH_BYTES} bytes object stores allow for an array's folder; use fewer or shorter "
            "primary-key attributes, or a shorter schema_prefix",
        )
    return path
