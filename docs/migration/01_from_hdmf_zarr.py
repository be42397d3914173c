"""
From hdmf-zarr
==============

``from zarrbridge import ZarrIO, NWBZarrIO, ZarrDataIO`` replaces ``from hdmf_zarr import ...``; the calls
of hdmf-zarr 0.13 and 0.14 run unchanged. This guide runs them: the constructor and ``write``/``export``
arguments (including those accepted without effect, and why), ``ZarrDataIO``, and reading the files each
hdmf-zarr version writes. The full table of arguments is :doc:`/hdmf-zarr-api`.

Which files each version reads
------------------------------

.. list-table::
   :header-rows: 1

   * - written by
     - hdmf-zarr 0.13 (zarr 2)
     - hdmf-zarr 0.14 (zarr 3)
     - zarrbridge
   * - hdmf-zarr <= 0.13 (Zarr v2, the files on DANDI today)
     - yes (reference columns need numcodecs' Pickle codec, which numcodecs >= 0.15 refuses by default)
     - only with its separate read-only ``ZarrV2IO`` / ``NWBZarrV2IO``
     - yes, with ``ZarrIO`` / ``NWBZarrIO`` (read-only; pickled references are decoded without running
       pickle code)
   * - hdmf-zarr 0.14 (Zarr v3, the current convention)
     - no (zarr 2 cannot read Zarr v3)
     - yes
     - yes (``tests/fixtures/hdmf_zarr_014/``, read on zarr 3.1 too)
   * - zarrbridge (default: Zarr v3, the current convention)
     - no
     - yes (``scripts/hdmf_zarr_014/check_ours.sh``)
     - yes
   * - zarrbridge with ``zarr_format=2``
     - not checked
     - not checked
     - yes

See :doc:`/format` for the convention and the extensions zarrbridge adds (they leave files readable by
convention readers).
"""

# %%
# The import is the only change
# -----------------------------
# A small HDMF table, written with the arguments an hdmf-zarr 0.13 script passes.
import tempfile
import warnings
from pathlib import Path

import numcodecs
import numpy as np
from hdmf.common import DynamicTable, VectorData, get_manager

from zarrbridge import ZarrDataIO, ZarrIO
from zarrbridge.errors import InvalidOptionError

workdir = Path(tempfile.mkdtemp(prefix="zarrbridge-migrate-"))
table = DynamicTable(
    name="trials",
    description="trial times",
    columns=[
        VectorData(name="start", description="s", data=ZarrDataIO(np.arange(100.0), chunks=(50,))),
        VectorData(name="stop", description="s", data=np.arange(100.0) + 0.5),
    ],
)
path = workdir / "trials.zarr"
with ZarrIO(
    path,
    mode="w",
    manager=get_manager(),
    synchronizer=None,  # 0.13: accepted without effect (zarr 3 has no synchronizers)
    object_codec_class=numcodecs.JSON,  # 0.13: accepted without effect (references are path strings)
) as io:
    io.write(
        table,
        number_of_jobs=2,  # threads writing chunks (hdmf-zarr: worker processes)
        max_threads_per_process=1,  # validated, without effect: there are no worker processes
        multiprocessing_context="spawn",  # validated, without effect: threads, not processes
        consolidate_metadata=True,
    )

with ZarrIO(path, mode="r", manager=get_manager()) as io:
    back = io.read()
    print(back["start"].data[:3], back["start"].data.chunks)

# %%
# What cannot be honoured is refused
# ----------------------------------
# zarrbridge never writes pickle, so hdmf-zarr 0.13's ``object_codec_class=numcodecs.Pickle`` is an
# :class:`~zarrbridge.errors.InvalidOptionError` that says what to pass instead, not a silently different
# file.
try:
    ZarrIO(workdir / "refused.zarr", mode="w", manager=get_manager(), object_codec_class=numcodecs.Pickle)
except InvalidOptionError as error:
    print(error)

# %%
# ``ZarrDataIO``: both generations of arguments
# ---------------------------------------------
# 0.14's ``compressors`` (a list of codecs) and 0.13's ``compressor`` (one numcodecs codec) are both
# accepted, as are ``filters``, ``chunks``, ``fillvalue``, ``shards`` and ``link_data``.
new_style = ZarrDataIO(np.arange(1000, dtype="i4"), chunks=(250,), compressors=[numcodecs.Zstd(level=3)])
old_style = ZarrDataIO(np.arange(1000, dtype="i4"), chunks=(250,), compressor=numcodecs.Blosc(cname="lz4"))
print(new_style.io_settings["chunks"], old_style.io_settings["chunks"])

# %%
# Reading the files hdmf-zarr wrote
# ---------------------------------
# The repository holds small files written by the real hdmf-zarr 0.13.0 and 0.14.0
# (``tests/fixtures/legacy/`` and ``tests/fixtures/hdmf_zarr_014/``). The same ``NWBZarrIO`` opens both; the
# legacy one is read-only, and its pickled reference columns are decoded by a restricted unpickler.
from zarrbridge import NWBZarrIO  # noqa: E402

# (the repository's folder: sphinx-gallery runs each script in its own folder, docs/migration/)
fixtures = (
    next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "tests" / "fixtures").is_dir())
    / "tests"
    / "fixtures"
)
for name in ("legacy/ecephys.nwb.zarr", "hdmf_zarr_014/ecephys.nwb.zarr"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # these old files use codecs outside the zarr 3 spec, and say so
        with NWBZarrIO(fixtures / name, mode="r") as io:
            nwbfile = io.read()
            electrode_group = nwbfile.electrodes["group"][0]  # a reference column
            print(f"{name}: convention {io.convention.name!r}, electrode 0 in {electrode_group.name!r}")

# %%
# Convert a legacy file to the current convention
# -----------------------------------------------
# ``export`` from one ``NWBZarrIO`` to another writes Zarr v3 (the ``zarrbridge convert`` command does the
# same). hdmf-zarr 0.14 opens the result with its ordinary ``NWBZarrIO``.
converted = workdir / "ecephys-v3.nwb.zarr"
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with (
        NWBZarrIO(fixtures / "legacy/ecephys.nwb.zarr", mode="r") as src,
        NWBZarrIO(converted, mode="w") as dst,
    ):
        dst.export(src_io=src)
with NWBZarrIO(converted, mode="r") as io:
    print(io.convention.name, sorted(io.read().acquisition))

# %%
# Clean up.
import shutil  # noqa: E402

shutil.rmtree(workdir)
