"""Build the in-memory NWB files that become the legacy fixtures (runs in the legacy venv only).

Every builder is deterministic (fixed identifiers, dates and seeded data) except the object ids, which
HDMF draws from ``uuid4``; the manifest records the ids that were written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numcodecs
import numpy as np
from dateutil.tz import tzutc
from hdmf.common import DynamicTableRegion

try:  # the legacy venv: hdmf-zarr's own
    from hdmf_zarr.utils import ZarrDataIO
except ImportError:  # zarrbridge's venvs (scripts/hdmf_zarr_014/write_ours.py): the same arguments
    from zarrbridge import ZarrDataIO
from pynwb import NWBFile, TimeSeries
from pynwb.base import ImageReferences, Images
from pynwb.behavior import Position, SpatialSeries
from pynwb.device import Device
from pynwb.ecephys import ElectricalSeries
from pynwb.file import Subject
from pynwb.image import GrayscaleImage, ImageSeries
from pynwb.misc import AnnotationSeries

START = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=tzutc())
CREATED = dt.datetime(2024, 1, 2, 4, 0, 0, tzinfo=tzutc())


def new_file(*, identifier: str, description: str) -> NWBFile:
    """An empty NWBFile with fixed metadata."""
    return NWBFile(
        session_description=description,
        identifier=identifier,
        session_start_time=START,
        file_create_date=[CREATED, CREATED + dt.timedelta(hours=1)],
        experimenter=["Doe, Jane", "Roe, Rick"],
        keywords=["legacy", "fixture"],
        institution="zarrbridge test institution",
        lab="fixtures lab",
        session_id="session-0001",
        related_publications=["doi:10.0000/example"],
    )


def add_electrodes(nwbfile: NWBFile, *, n_groups: int, per_group: int) -> Device:
    """A device, ``n_groups`` electrode groups and an electrodes table with a ``group`` reference column."""
    device = nwbfile.create_device(name="probe", description="a mock probe", manufacturer="zarrbridge")
    nwbfile.add_electrode_column(name="label", description="an extra text column")
    for g in range(n_groups):
        group = nwbfile.create_electrode_group(
            name=f"shank{g}", description=f"shank {g}", location="CA1", device=device
        )
        for e in range(per_group):
            nwbfile.add_electrode(
                group=group,
                location="CA1",
                x=float(g),
                y=float(e) * 20.0,
                z=0.0,
                label=f"g{g}e{e}",
            )
    return device


def _region(nwbfile: NWBFile, rows: list[int]) -> DynamicTableRegion:
    return nwbfile.create_electrode_table_region(region=rows, description="recorded electrodes")


def build_ecephys() -> NWBFile:
    """The broad file: ecephys, units, trials with a time-series reference column, behavior, images."""
    rng = np.random.default_rng(1234)
    nwbfile = new_file(identifier="zarrbridge-legacy-ecephys", description="legacy ecephys fixture")
    nwbfile.subject = Subject(
        subject_id="mouse-1",
        species="Mus musculus",
        sex="F",
        age="P90D",
        description="a mock mouse",
        date_of_birth=dt.datetime(2023, 10, 4, tzinfo=tzutc()),
    )
    add_electrodes(nwbfile, n_groups=2, per_group=3)
    raw = rng.integers(-2000, 2000, size=(200, 4), dtype=np.int16)
    es_gzip = ElectricalSeries(
        name="ElectricalSeriesGzip",
        data=ZarrDataIO(raw, chunks=(50, 4), compressor=numcodecs.GZip(level=4)),
        electrodes=_region(nwbfile, [0, 1, 3, 4]),
        starting_time=0.0,
        rate=1000.0,
        conversion=0.195e-6,
        filtering="none",
        channel_conversion=np.array([1.0, 1.0, 0.5, 0.5], dtype=np.float32),
    )
    nwbfile.add_acquisition(es_gzip)
    timestamps = np.round(np.cumsum(rng.uniform(0.009, 0.011, size=64)), 6)
    es_blosc = ElectricalSeries(
        name="ElectricalSeriesBlosc",
        data=ZarrDataIO(rng.standard_normal((64, 2)).astype(np.float32), chunks=(16, 2)),
        electrodes=_region(nwbfile, [2, 5]),
        timestamps=timestamps,
    )
    nwbfile.add_acquisition(es_blosc)
    # timestamps=<another TimeSeries> writes the timestamps as a soft link to that series' dataset.
    nwbfile.add_acquisition(
        TimeSeries(
            name="SharedTimestamps", data=np.arange(64, dtype=np.uint8), unit="a.u.", timestamps=es_blosc
        )
    )
    nwbfile.add_acquisition(
        AnnotationSeries(name="Annotations", data=["start", "middle", "end"], timestamps=[0.0, 0.1, 0.2])
    )
    nwbfile.add_acquisition(
        ImageSeries(
            name="ExternalMovie",
            external_file=["movie_a.avi", "movie_b.avi"],
            starting_frame=[0, 10],
            format="external",
            rate=30.0,
            unit="n.a.",
        )
    )
    _add_units(nwbfile, rng)
    _add_intervals(nwbfile, es_gzip, es_blosc)
    behavior = nwbfile.create_processing_module(name="behavior", description="behavioral data")
    position = Position(name="Position")
    position.add_spatial_series(
        SpatialSeries(
            name="position",
            data=np.round(rng.uniform(0, 1, size=(30, 2)), 4),
            reference_frame="top left",
            rate=10.0,
            starting_time=0.5,
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


def _add_units(nwbfile: NWBFile, rng: np.random.Generator) -> None:
    nwbfile.add_unit_column(name="quality", description="sorting quality")
    for unit in range(5):
        n_spikes = int(rng.integers(1, 8))
        nwbfile.add_unit(
            spike_times=np.round(np.sort(rng.uniform(0, 2, size=n_spikes)), 5),
            obs_intervals=[[0.0, 1.0], [1.5, 2.0]] if unit % 2 else [[0.0, 2.0]],
            electrodes=[unit % 6, (unit + 1) % 6] if unit % 2 else [unit % 6],
            electrode_group=nwbfile.electrode_groups[f"shank{unit % 2}"],
            quality=["good", "mua", "noise"][unit % 3],
            waveform_mean=np.round(rng.standard_normal((3, 2)), 4),
        )


def _add_intervals(nwbfile: NWBFile, es_a: TimeSeries, es_b: TimeSeries) -> None:
    nwbfile.add_trial_column(name="correct", description="whether the trial was correct")
    nwbfile.add_trial_column(name="stimulus", description="stimulus name")
    for trial in range(4):
        start = 0.05 + 0.04 * trial
        nwbfile.add_trial(
            start_time=start,
            stop_time=start + 0.03,
            correct=bool(trial % 2),
            stimulus=f"stim{trial}",
            timeseries=[es_a, es_b] if trial % 2 else [es_a],
        )
    nwbfile.add_epoch(start_time=0.0, stop_time=0.1, tags=["baseline", "quiet"], timeseries=[es_a])
    nwbfile.add_epoch(start_time=0.1, stop_time=0.2, tags=["stim"], timeseries=[es_b])


def build_kinds(
    classes: dict[str, type[Any]],
    *,
    identifier: str = "zarrbridge-legacy-kinds",
    overrides: dict[str, Any] | None = None,
    structured_compound: bool = False,
) -> NWBFile:
    """The extension file: one ``LegacyKinds`` object holding every data kind.

    ``overrides`` replaces values of the ``LegacyKinds`` arguments (the hdmf-zarr 0.14 fixtures use it for
    non-finite attributes) and ``structured_compound`` gives the compound-with-references rows as a
    structured array; the legacy fixtures use the defaults.
    """
    nwbfile = new_file(identifier=identifier, description="legacy data kinds fixture")
    device = nwbfile.create_device(name="rig", description="a rig")
    ts = TimeSeries(name="ts", data=np.arange(5, dtype=np.float64), unit="V", rate=2.0)
    ts2 = TimeSeries(name="ts2", data=np.arange(3, dtype=np.int32), unit="s", timestamps=[0.0, 1.5, 3.0])
    nwbfile.add_acquisition(ts)
    nwbfile.add_acquisition(ts2)
    when = [
        dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=tzutc()),
        dt.datetime(2020, 2, 29, 23, 59, 59, tzinfo=tzutc()),
    ]
    compound_rows: Any = [(0, 0.5, ts), (1, 1.5, ts2), (2, 2.5, ts)]
    if structured_compound:  # hdmf >= 5 checks the shape of a list of rows as if it were 2-D
        compound_rows = np.array(compound_rows, dtype=[("idx", "<i4"), ("weight", "<f4"), ("target", "O")])
    arguments: dict[str, Any] = dict(
        name="kinds",
        int8_data=np.array([-128, -1, 0, 127], dtype=np.int8),
        uint16_data=np.arange(6, dtype=np.uint16).reshape(2, 3) * 1000,
        int32_data=np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32),
        int64_data=np.array([-(2**62), 1, 2**62], dtype=np.int64),
        uint64_data=np.array([0, 2**64 - 1], dtype=np.uint64),
        float32_data=np.array([0.5, -1.25, np.inf], dtype=np.float32),
        float64_data=np.array([[np.nan, 1e-300], [-0.0, 1e300]], dtype=np.float64),
        bool_data=np.array([True, False, True]),
        text_data=["alpha", "βeta", "", "line\nbreak"],
        ascii_data=[b"abc", b"", b"xyz"],
        isodatetime_data=when,
        scalar_int=np.int32(42),
        scalar_float=3.25,
        scalar_bool=True,
        scalar_text="a scalar string",
        scalar_ascii=b"ascii scalar",
        empty_float=np.zeros((0,), dtype=np.float64),
        empty_int=np.zeros((0,), dtype=np.int32),
        empty_text=np.array([], dtype=str),
        compound_plain=np.array(
            [(1, 0.5, "one"), (2, -1.5, "two"), (3, 2.25, "three")],
            dtype=[("x", "<i4"), ("y", "<f8"), ("label", "O")],
        ),
        compound_ref=classes["LegacyCompoundRefs"](name="compound_ref", data=compound_rows),
        ref_data=classes["LegacyReferences"](name="ref_data", data=[ts, ts2, ts]),
        data_with_attrs=np.array([1.0, 2.0]),
        data_with_attrs__unit="volts",
        data_with_attrs__source_series=ts2,
        attr_int=-7,
        attr_float=2.5,
        attr_bool=False,
        attr_text="attribute text",
        attr_int_list=np.array([1, 2, 3], dtype=np.int64),
        attr_float_list=[0.25, 0.5],
        attr_text_list=["a", "b", "c"],
        attr_int_2d=np.array([[1, 2], [3, 4]], dtype=np.int32),
        attr_ref=device,
        linked_series=ts,
    )
    arguments.update(overrides or {})
    kinds = classes["LegacyKinds"](**arguments)
    module = nwbfile.create_processing_module(name="kinds_module", description="holds the LegacyKinds object")
    module.add(kinds)
    return nwbfile


def build_link_target() -> NWBFile:
    """A small file that another fixture links into; also the source of the crafted copy."""
    nwbfile = new_file(identifier="zarrbridge-legacy-link-target", description="external link target")
    add_electrodes(nwbfile, n_groups=2, per_group=2)
    nwbfile.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries",
            data=np.arange(12, dtype=np.int16).reshape(3, 4),
            electrodes=_region(nwbfile, [0, 1, 2, 3]),
            rate=100.0,
        )
    )
    nwbfile.add_acquisition(TimeSeries(name="target_series", data=np.linspace(0, 1, 5), unit="m", rate=5.0))
    return nwbfile
