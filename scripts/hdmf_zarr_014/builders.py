"""Build the in-memory NWB files of the hdmf-zarr 0.14 fixtures (runs in the hdmf-zarr 0.14 venv only).

Every builder is deterministic, object ids included (:func:`fixed_object_ids`), so that the same file built
twice, once for hdmf-zarr's ``NWBZarrIO`` and once for pynwb's ``NWBHDF5IO``, gives two files whose
containers compare equal, ids and all. The pieces shared with the legacy fixtures come from
``scripts/legacy/nwb_builders.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hdmf.container
import numpy as np
import zarr.codecs

try:  # the hdmf-zarr 0.14 venv (write_fixtures.py)
    from hdmf_zarr.utils import ZarrDataIO
except ImportError:  # zarrbridge's venvs (write_ours.py): the same arguments
    from zarrbridge import ZarrDataIO
from pynwb import NWBFile, TimeSeries
from pynwb.base import ImageReferences, Images
from pynwb.behavior import Position, SpatialSeries
from pynwb.ecephys import ElectricalSeries
from pynwb.file import Subject
from pynwb.icephys import VoltageClampSeries, VoltageClampStimulusSeries
from pynwb.image import GrayscaleImage
from pynwb.misc import AnnotationSeries

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "legacy"))

import nwb_builders


@contextlib.contextmanager
def fixed_object_ids(seed: str) -> Iterator[None]:
    """Object ids drawn from a generator seeded with ``seed`` instead of ``uuid4`` (restored on exit)."""
    rng = random.Random(seed)
    original = hdmf.container.uuid4
    hdmf.container.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # type: ignore[assignment]
    try:
        yield
    finally:
        hdmf.container.uuid4 = original  # type: ignore[assignment]


def _data(values: np.ndarray, zarr_io: bool, **settings: Any) -> Any:
    """``values`` wrapped in a ``ZarrDataIO`` with ``settings`` for the Zarr file, bare for the HDF5 twin."""
    return ZarrDataIO(values, **settings) if zarr_io else values


def build_ecephys(*, zarr_io: bool) -> NWBFile:
    """The broad file: ecephys with each codec choice and a sharded array, units, trials, behavior, images."""
    rng = np.random.default_rng(1234)
    nwbfile = nwb_builders.new_file(identifier="zarrbridge-hdmf-zarr-014-ecephys", description="0.14 ecephys")
    nwbfile.subject = Subject(
        subject_id="mouse-1",
        species="Mus musculus",
        sex="F",
        age="P90D",
        description="a mock mouse",
        date_of_birth=nwb_builders.START - dt.timedelta(days=90),
    )
    nwb_builders.add_electrodes(nwbfile, n_groups=2, per_group=3)
    region = nwbfile.create_electrode_table_region
    raw = rng.integers(-2000, 2000, size=(200, 4), dtype=np.int16)
    es_gzip = ElectricalSeries(
        name="ElectricalSeriesGzip",
        data=_data(raw, zarr_io, chunks=(50, 4), compressors=[zarr.codecs.GzipCodec(level=4)]),
        electrodes=region(region=[0, 1, 3, 4], description="recorded electrodes"),
        starting_time=0.0,
        rate=1000.0,
        conversion=0.195e-6,
        channel_conversion=np.array([1.0, 1.0, 0.5, 0.5], dtype=np.float32),
    )
    nwbfile.add_acquisition(es_gzip)
    timestamps = np.round(np.cumsum(rng.uniform(0.009, 0.011, size=64)), 6)
    es_sharded = ElectricalSeries(
        name="ElectricalSeriesSharded",
        data=_data(rng.standard_normal((64, 2)).astype(np.float32), zarr_io, chunks=(8, 2), shards=(32, 2)),
        electrodes=region(region=[2, 5], description="recorded electrodes"),
        timestamps=timestamps,
    )
    nwbfile.add_acquisition(es_sharded)
    blosc = zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    nwbfile.add_acquisition(
        TimeSeries(
            name="BloscSeries",
            data=_data(rng.integers(0, 1000, size=(100, 3), dtype=np.uint16), zarr_io, compressors=[blosc]),
            unit="a.u.",
            rate=10.0,
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="UncompressedSeries",
            data=_data(np.linspace(-1.0, 1.0, 40), zarr_io, chunks=(10,), compressors=[]),
            unit="V",
            rate=4.0,
        )
    )
    # timestamps=<another TimeSeries>: a soft link to that series' timestamps dataset
    nwbfile.add_acquisition(
        TimeSeries(
            name="SharedTimestamps", data=np.arange(64, dtype=np.uint8), unit="a.u.", timestamps=es_sharded
        )
    )
    nwbfile.add_acquisition(
        AnnotationSeries(name="Annotations", data=["start", "middle", "end"], timestamps=[0.0, 0.1, 0.2])
    )
    nwb_builders._add_units(nwbfile, rng)
    nwb_builders._add_intervals(nwbfile, es_gzip, es_sharded)
    behavior = nwbfile.create_processing_module(name="behavior", description="behavioral data")
    position = Position(name="Position")
    position.add_spatial_series(
        SpatialSeries(
            name="position",
            data=np.round(rng.uniform(0, 1, size=(30, 2)), 4),
            reference_frame="top left",
            rate=10.0,
        )
    )
    behavior.add(position)
    images = Images(name="Images", description="two small images")
    img_a = GrayscaleImage(
        name="img_a", data=rng.integers(0, 255, size=(4, 5), dtype=np.uint8), resolution=1.5
    )
    img_b = GrayscaleImage(name="img_b", data=np.eye(4, dtype=np.uint8) * 255)
    images.add_image(img_a)
    images.add_image(img_b)
    images.order_of_images = ImageReferences(name="order_of_images", data=[img_b, img_a])
    behavior.add(images)
    return nwbfile


def build_icephys() -> NWBFile:
    """Intracellular recordings and the icephys tables (compound columns with references)."""
    nwbfile = nwb_builders.new_file(identifier="zarrbridge-hdmf-zarr-014-icephys", description="0.14 icephys")
    device = nwbfile.create_device(name="amplifier", description="a patch amplifier")
    electrode = nwbfile.create_icephys_electrode(name="pipette", description="a pipette", device=device)
    rows = []
    for sweep in range(3):
        stimulus = VoltageClampStimulusSeries(
            name=f"stimulus{sweep}",
            data=np.full(20, -70.0 + 10 * sweep),
            rate=10_000.0,
            electrode=electrode,
            gain=0.02,
            sweep_number=np.uint32(sweep),
        )
        response = VoltageClampSeries(
            name=f"response{sweep}",
            data=np.sin(np.linspace(0, 3, 20)) * (sweep + 1),
            rate=10_000.0,
            electrode=electrode,
            gain=0.02,
            resolution=np.nan,  # NaN attribute
            capacitance_slow=100e-12,
            resistance_comp_correction=70.0,
            sweep_number=np.uint32(sweep),
        )
        nwbfile.add_stimulus(stimulus)
        nwbfile.add_acquisition(response)
        rows.append(
            nwbfile.add_intracellular_recording(
                electrode=electrode, stimulus=stimulus, response=response, id=10 + sweep
            )
        )
    simultaneous = [nwbfile.add_icephys_simultaneous_recording(recordings=[r]) for r in rows]
    sequential = nwbfile.add_icephys_sequential_recording(
        simultaneous_recordings=simultaneous, stimulus_type="square"
    )
    repetition = nwbfile.add_icephys_repetition(sequential_recordings=[sequential])
    nwbfile.add_icephys_experimental_condition(repetitions=[repetition])
    return nwbfile


def build_kinds(classes: dict[str, type[Any]]) -> NWBFile:
    """The ``ndx-legacy-kinds`` object of every data kind, with non-finite float attributes."""
    return nwb_builders.build_kinds(
        classes,
        identifier="zarrbridge-hdmf-zarr-014-kinds",
        structured_compound=True,
        overrides={
            "attr_float": float("nan"),
            "attr_float_list": [float("nan"), float("inf"), float("-inf"), 0.5],
            # hdmf-zarr 0.14 stores ascii as "str" (hdmf-zarr issue #380): a scalar ascii dataset reads back
            # as str, which the generated class refuses, so neither reader could construct the object
            "scalar_ascii": None,
        },
    )


def build_link_target() -> NWBFile:
    """The small file ``external_link`` links into."""
    return nwb_builders.build_link_target()


def build_external_link(series: TimeSeries) -> NWBFile:
    """A file linking to a group (``series``) and to a dataset (its data) of another file."""
    nwbfile = nwb_builders.new_file(
        identifier="zarrbridge-hdmf-zarr-014-external-link", description="links into link_target"
    )
    nwbfile.add_acquisition(series)  # a container of another file: an external link to its group
    nwbfile.add_acquisition(TimeSeries(name="linked_data", data=series.data, unit="m", rate=5.0))
    return nwbfile
