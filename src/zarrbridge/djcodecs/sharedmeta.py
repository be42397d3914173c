"""Identical ``zarr.json`` documents of one table's small rows on a ``file`` store: one file, hard-linked.

Decision: on a local file system, creating a file or folder (a new inode) is most of what a small row costs to
insert: measured 100-450 us each under /tmp on the benchmark machine, against 8 us for a hard link. A
``<npy@>`` row creates two (its key's folder and the ``.npy`` file); a ``<zarr@>`` row four (the key's folder,
the array's folder, ``c.0.0`` and ``zarr.json``). Rows of one table usually have the same ``zarr.json``
(same shape, dtype and codecs), so the second and later ones link the first one's document instead of
writing a new file: three new inodes per row. Every reader sees ordinary files; deleting a row's folder (the
garbage collector, the insert guard) removes only that row's name for the document.

Safety:

- a link is made only to a document this process wrote, in the same table folder, and only if the file is
  still that one, unchanged (device, inode, size and modification time as written, checked after linking);
  anything else (the file gone or replaced, another file system, too many links, no hard links there) writes
  a new file, which becomes the one later rows link to;
- the documents are created read-only (``0o444``, POSIX), as git does for its shared objects: zarr and other
  writers replace a metadata file (a new file renamed over it), which changes only that array, while writing
  *into* the file, which would change every row sharing it, is refused for anyone but root;
- fetch checks the row's shape and dtype against the document (:meth:`ArrayCodecBase.decode`), so a shared
  document changed in place by root cannot make another row read as a different array.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..core.cache import BoundedCache
from ..core.localfiles import write_file

__all__ = ["write_document"]

_MODE = 0o444 if os.name == "posix" else 0o666  # (Windows cannot delete read-only files)
_CACHE_SIZE = 256


@dataclass(frozen=True)
class _Written:
    """A document this process wrote: where, and the identity and state of the file it wrote."""

    path: str
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


_written: BoundedCache[tuple[str, bytes], _Written] = BoundedCache(_CACHE_SIZE)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def write_document(path: str, data: bytes, *, group: str) -> bool:
    """Create the file ``path`` holding ``data``, as a hard link to an identical earlier document if possible.

    Parameters
    ----------
    path
        The new file (its folder exists; the file must not: ``FileExistsError``).
    data
        The document's bytes.
    group
        Documents are shared only within one group (the table's folder).

    Returns
    -------
    bool
        Whether ``path`` is a link to an earlier document (``False``: a new file was written).
    """
    key = (group, data)
    source = _written.get(key)
    if source is not None:
        try:
            os.link(source.path, path)
        except FileExistsError:
            raise
        except OSError:
            pass  # the source is gone, on another file system, has too many links, or links are not supported
        else:
            if _identity(os.stat(path)) == source.identity:
                return True
            os.unlink(path)  # the source was replaced or changed since it was written: not ours to share
    write_file(path, data, exclusive=True, mode=_MODE)  # (the mode applies to later opens, not to this write)
    identity = _identity(os.stat(path))
    _written.put(key, _Written(path, identity))
    return False
