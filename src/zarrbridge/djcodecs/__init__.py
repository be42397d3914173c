"""DataJoint 2.x codecs: ``<zarr@store>`` (numeric arrays) and ``<photon@store>`` (photon-limited movies).

Both register through the ``datajoint.codecs`` entry point, so ``waveform : <zarr@mystore>`` works in a table
definition without importing zarrbridge. Importing this package needs DataJoint
(``pip install "zarrbridge[datajoint]"``).
"""

from __future__ import annotations

from .._optional import import_optional

import_optional("datajoint", extra="datajoint", feature="the <zarr@> and <photon@> DataJoint codecs")

from .anscombe import AnscombeParams  # noqa: E402
from .movie import PhotonMovie  # noqa: E402
from .options import PhotonValue, ZarrValue  # noqa: E402
from .photon_codec import PhotonCodec  # noqa: E402
from .rollback import install_insert_guard  # noqa: E402
from .zarr_codec import ZarrCodec  # noqa: E402

install_insert_guard()

__all__ = ["AnscombeParams", "PhotonCodec", "PhotonMovie", "PhotonValue", "ZarrCodec", "ZarrValue"]
