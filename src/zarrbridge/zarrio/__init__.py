"""HDMF/NWB on Zarr: ``ZarrIO`` and ``ZarrDataIO`` (needs the ``hdmf`` extra)."""

from __future__ import annotations

from .._optional import import_optional

import_optional("hdmf", extra="hdmf", feature="zarrbridge.ZarrIO")

from .dataio import ZarrDataIO  # noqa: E402
from .io import ZarrIO  # noqa: E402

__all__ = ["ZarrDataIO", "ZarrIO"]
