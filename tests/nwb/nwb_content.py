"""Rich NWB files for the round-trip tests: every pynwb mock, plus what the mocks do not make."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pynwb.testing.mock as mock_pkg
from hdmf.common import AlignedDynamicTable, DynamicTable, DynamicTableRegion, MeaningsTable, VectorData
from pynwb import NWBFile, TimeSeries
from pynwb.base import ExternalImage, Image, ImageReferences, Images
from pynwb.behavior import (
    BehavioralEpochs,
    BehavioralEvents,
    BehavioralTimeSeries,
    EyeTracking,
    SpatialSeries,
)
from pynwb.core import NWBContainer, NWBData, ScratchData
from pynwb.ecephys import LFP, ElectricalSeries, EventDetection, FeatureExtraction, FilteredEphys
from pynwb.epoch import TimeIntervals
from pynwb.event import EventsTable
from pynwb.file import LabMetaData, Subject
from pynwb.icephys import PatchClampSeries, VoltageClampSeries, VoltageClampStimulusSeries
from pynwb.image import GrayscaleImage, ImageSeries, IndexSeries, OpticalSeries, RGBAImage, RGBImage
from pynwb.misc import (
    AbstractFeatureSeries,
    AnnotationSeries,
    DecompositionSeries,
    FrequencyBandsTable,
    IntervalSeries,
)
from pynwb.ophys import CorrectedImageStack, MotionCorrection
from pynwb.testing.mock.file import mock_NWBFile

START = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


def mock_functions() -> list[tuple[str, Callable[..., Any]]]:
    """Every ``mock_*`` function of ``pynwb.testing.mock`` that can add its object to an NWBFile."""
    found = []
    for info in pkgutil.iter_modules(mock_pkg.__path__):
        module = importlib.import_module(f"{mock_pkg.__name__}.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if (
                fn.__module__ == module.__name__
                and name.startswith("mock_")
                and "nwbfile" in inspect.signature(fn).parameters
            ):
                found.append((f"{info.name}.{name}", fn))
    return sorted(found)


def new_file(identifier: str) -> NWBFile:
    return mock_NWBFile(identifier=identifier, session_start_time=START, file_create_date=[START])


def files_from_mocks() -> tuple[list[NWBFile], list[str]]:
    """Call every mock with an NWBFile; a mock that clashes with an earlier one (e.g. a second electrodes
    table) starts a new file. Returns the files and the names of the mocks called."""
    files = [new_file("mocks-0")]
    called = []
    for name, fn in mock_functions():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # mock_ElectrodeTable is a deprecated alias
            try:
                fn(nwbfile=files[-1])
            except (AttributeError, ValueError):
                files.append(new_file(f"mocks-{len(files)}"))
                fn(nwbfile=files[-1])
        called.append(name)
    return files, called


def rich_file(external_file: str) -> NWBFile:
    """One file with what the mocks leave out: metadata, tables with ragged/reference columns, images..."""
    with warnings.catch_warnings():
        # AnnotationSeries, BehavioralEvents...: deprecated for new files, still part of the schema
        warnings.filterwarnings("ignore", message=".* is deprecated", category=UserWarning)
        return _rich_file(external_file)


def _rich_file(external_file: str) -> NWBFile:
    nwb = NWBFile(
        session_description="rich",
        identifier="rich-1",
        session_start_time=START,
        file_create_date=[START],
        timestamps_reference_time=START + dt.timedelta(seconds=1),
        experimenter=["Doe, Jane", "Roe, R."],
        experiment_description="exp",
        session_id="s1",
        institution="inst",
        lab="lab",
        keywords=["a", "b"],
        notes="notes",
        pharmacology="ph",
        protocol="prot",
        related_publications=["doi:10/1", "doi:10/2"],
        slices="sl",
        source_script="print()",
        source_script_file_name="s.py",
        data_collection="dc",
        surgery="su",
        virus="vi",
        stimulus_notes="sn",
        was_generated_by=[["zarrbridge", "0.1"], ["pynwb", "4"]],
    )
    nwb.subject = Subject(
        subject_id="m1",
        age="P90D",
        age__reference="birth",
        description="mouse",
        sex="M",
        species="Mus musculus",
        genotype="wt",
        weight="20 g",
        strain="C57",
        date_of_birth=START - dt.timedelta(days=90),
    )
    nwb.add_lab_meta_data(LabMetaData(name="lab_meta"))
    device = nwb.create_device(name="probe", description="d")
    group = nwb.create_electrode_group(
        name="shank0", description="g", location="CA1", device=device, position=(1.0, 2.0, 3.0)
    )
    nwb.add_electrode_column(name="labels", description="ragged labels", index=True)
    for i in range(4):
        nwb.add_electrode(
            group=group, location="CA1", x=float(i), y=np.nan, z=0.0, labels=[f"l{i}"] * (i % 3)
        )
    region = nwb.create_electrode_table_region([0, 2, 3], "three electrodes")
    es = ElectricalSeries(
        name="es",
        data=np.arange(30, dtype=np.int16).reshape(10, 3),
        electrodes=region,
        timestamps=np.linspace(0, 1, 10),
        channel_conversion=[1.0, 2.0, 3.0],
    )
    nwb.add_acquisition(es)

    # units: ragged spike times, obs_intervals, electrodes region, doubly ragged waveforms
    nwb.add_unit_column(name="quality", description="q")
    wf = [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]]]
    nwb.add_unit(
        spike_times=[0.1, 0.2, 0.3],
        obs_intervals=[[0.0, 1.0], [2.0, 3.0]],
        electrodes=[0, 1],
        electrode_group=group,
        waveform_mean=np.ones((2, 2)),
        quality="good",
        waveforms=wf,
    )
    nwb.add_unit(
        spike_times=[0.5],
        obs_intervals=[[0.0, 2.0]],
        electrodes=[2],
        electrode_group=group,
        waveform_mean=np.zeros((2, 2)),
        quality="bad",
        waveforms=[[[7.0, 8.0]], [[9.0, 1.0], [2.0, 3.0]]],
    )

    # trials, epochs (tags, timeseries references), invalid times, a custom TimeIntervals
    nwb.add_trial_column(name="correct", description="c")
    nwb.add_trial_column(name="stims", description="ragged floats", index=True)
    for i in range(3):
        nwb.add_trial(start_time=float(i), stop_time=i + 0.5, correct=bool(i % 2), stims=[0.1] * (i + 1))
    nwb.add_epoch(start_time=0.0, stop_time=1.0, tags=["a", "b"], timeseries=[es])
    nwb.add_epoch(start_time=1.0, stop_time=2.0, tags=["c"], timeseries=[es, es])
    nwb.add_invalid_time_interval(start_time=0.0, stop_time=0.1)
    custom = TimeIntervals(name="sleep", description="sleep bouts")
    custom.add_interval(start_time=0.0, stop_time=5.0)
    nwb.add_time_intervals(custom)

    # events with a meanings table is exercised through EventsTable columns
    events = EventsTable(name="events_table", description="ev")
    events.add_column(name="kind", description="k")
    events.add_event(timestamp=0.5, duration=0.1, kind="lick")
    events.add_event(timestamp=0.9, duration=np.nan, kind="tone")
    meanings = MeaningsTable(target=events["kind"], description="what the kinds mean")
    meanings.add_row(value="lick", meaning="tongue out")
    meanings.add_row(value="tone", meaning="5 kHz")
    events.add_meanings_table(meanings)
    nwb.add_events_table(events)

    # images, external files, index series
    gray = GrayscaleImage(
        name="gray", data=np.arange(12, dtype=np.uint8).reshape(3, 4), resolution=1.5, description="g"
    )
    rgb = RGBImage(name="rgb", data=np.zeros((3, 4, 3), dtype=np.uint8))
    rgba = RGBAImage(name="rgba", data=np.ones((3, 4, 4), dtype=np.float32))
    ext = ExternalImage(name="ext_png", data="images/a.png", image_format="PNG", description="on disk")
    plain = Image(name="plain", data=np.linspace(0, 1, 6).reshape(2, 3))
    images = Images(
        name="stim_images",
        images=[gray, rgb, rgba, ext, plain],
        description="imgs",
        order_of_images=ImageReferences(name="order_of_images", data=[rgb, gray, rgba, ext, plain]),
    )
    nwb.add_stimulus_template(images)
    nwb.add_stimulus(
        IndexSeries(
            name="index",
            data=np.array([0, 1, 0, 2], dtype=np.uint32),
            indexed_images=images,
            unit="N/A",
            timestamps=[0.0, 0.1, 0.2, 0.3],
        )
    )
    movie = ImageSeries(
        name="movie_ext",
        external_file=[external_file, "other.avi"],
        starting_frame=[0, 5],
        format="external",
        rate=30.0,
        unit="n.a.",
        num_samples=10,
    )
    nwb.add_acquisition(movie)
    nwb.add_stimulus(
        OpticalSeries(
            name="optical",
            distance=0.5,
            field_of_view=[0.1, 0.2],
            orientation="up",
            data=np.zeros((3, 4, 5), dtype=np.float32),
            unit="n.a.",
            rate=10.0,
        )
    )

    # misc
    nwb.add_acquisition(AnnotationSeries(name="notes_series", data=["start", "stop"], timestamps=[0.0, 9.0]))
    nwb.add_acquisition(
        IntervalSeries(name="intervals", data=[1, -1, 2, -2], timestamps=[0.0, 1.0, 2.0, 3.0])
    )
    nwb.add_acquisition(
        AbstractFeatureSeries(
            name="features",
            feature_units=["u1", "u2"],
            features=["f1", "f2"],
            data=np.ones((3, 2)),
            timestamps=[0.0, 1.0, 2.0],
        )
    )
    bands = FrequencyBandsTable()
    bands.add_band(band_name="theta", band_limits=[4.0, 8.0], band_mean=6.0, band_stdev=1.0)
    bands.add_band(band_name="gamma", band_limits=[30.0, 80.0], band_mean=55.0, band_stdev=5.0)
    decomp = DecompositionSeries(
        name="decomp",
        data=np.ones((5, 3, 2)),
        metric="amplitude",
        rate=100.0,
        bands=bands,
        source_timeseries=es,
        source_channels=DynamicTableRegion(
            name="source_channels", data=[0, 1, 2], description="c", table=nwb.electrodes
        ),
    )

    # processing modules with behavior / ecephys / ophys interfaces
    ecephys = nwb.create_processing_module(name="ecephys", description="e")
    lfp_series = ElectricalSeries(
        name="lfp_es", data=np.ones((4, 3)), electrodes=region, rate=1000.0, filtering="low pass"
    )
    ecephys.add(LFP(electrical_series=lfp_series))
    ecephys.add(
        FilteredEphys(
            electrical_series=ElectricalSeries(
                name="filt", data=np.ones((4, 3)), electrodes=region, rate=1000.0
            )
        )
    )
    ecephys.add(
        FeatureExtraction(
            electrodes=region, description=["pc1", "pc2"], times=[0.1, 0.2], features=np.ones((2, 3, 2))
        )
    )
    ecephys.add(decomp)
    ecephys.add(EventDetection(detection_method="threshold", source_electricalseries=es, source_idx=[1, 4]))
    ecephys.add(
        AlignedDynamicTable(
            name="aligned",
            description="a",
            columns=[VectorData(name="main", description="m", data=[3, 4])],
            category_tables=[
                DynamicTable(
                    name="cat",
                    description="c",
                    columns=[VectorData(name="v", description="v", data=[1.5, 2.5])],
                )
            ],
        )
    )
    behavior = nwb.create_processing_module(name="behavior", description="b")
    ts = TimeSeries(
        name="speed",
        data=[1.0, 2.0, np.nan],
        unit="m/s",
        timestamps=[0.0, 0.5, 1.0],
        continuity="continuous",
        control=np.array([0, 1, 0], dtype=np.uint8),
        control_description=["off", "on"],
    )
    behavior.add(BehavioralTimeSeries(time_series=ts))
    behavior.add(
        BehavioralEvents(time_series=TimeSeries(name="licks", data=[1, 1, 2], unit="n", timestamps=ts))
    )
    behavior.add(
        BehavioralEpochs(interval_series=IntervalSeries(name="run", data=[1, -1], timestamps=[0.0, 1.0]))
    )
    behavior.add(
        EyeTracking(
            spatial_series=SpatialSeries(name="eye", data=np.ones((3, 2)), reference_frame="c", rate=3.0)
        )
    )
    analysis_table = DynamicTable(
        name="analysis_table",
        description="a",
        columns=[VectorData(name="v", description="v", data=["x", "y"])],
    )
    nwb.add_analysis(analysis_table)
    misc = nwb.create_processing_module(name="misc", description="m")
    misc.add(NWBDataInterfaceHolder.make())
    nwb.add_scratch(ScratchData(name="scratch_data", data=np.arange(3), description="n"))
    nwb.add_scratch(np.array([[1.5, 2.5]]), name="scratch_array", description="array")

    # icephys: electrodes, series, and the whole table hierarchy
    ic_dev = nwb.create_device(name="amp", description="amplifier")
    elec = nwb.create_icephys_electrode(name="ic_elec", description="e", device=ic_dev, cell_id="c1")
    stim = VoltageClampStimulusSeries(
        name="vcs", data=[1.0, 2.0, 3.0], rate=10e3, electrode=elec, gain=0.02, sweep_number=np.uint32(1)
    )
    resp = VoltageClampSeries(
        name="vc",
        data=[0.1, 0.2, 0.3],
        conversion=1e-12,
        resolution=np.nan,
        starting_time=0.0,
        rate=10e3,
        electrode=elec,
        gain=0.02,
        capacitance_slow=100e-12,
        resistance_comp_correction=70.0,
        sweep_number=np.uint32(1),
    )
    nwb.add_stimulus(stim)
    nwb.add_acquisition(
        PatchClampSeries(
            name="pcs",
            data=[1.0, 2.0],
            unit="V",
            electrode=elec,
            rate=1.0,
            sweep_number=np.uint32(3),
            gain=1.0,
        )
    )
    nwb.add_acquisition(resp)
    rec = nwb.add_intracellular_recording(electrode=elec, stimulus=stim, response=resp, id=10)
    rec2 = nwb.add_intracellular_recording(
        electrode=elec, response=resp, response_start_index=1, response_index_count=2, id=11
    )
    sim = nwb.add_icephys_simultaneous_recording(recordings=[rec, rec2])
    seq = nwb.add_icephys_sequential_recording(simultaneous_recordings=[sim], stimulus_type="square")
    rep = nwb.add_icephys_repetition(sequential_recordings=[seq])
    nwb.add_icephys_experimental_condition(repetitions=[rep])

    # ophys beyond the mocks: motion correction
    from pynwb.testing.mock.ophys import mock_ImagingPlane, mock_TwoPhotonSeries

    plane = mock_ImagingPlane(nwbfile=nwb, name="plane_mc")
    raw = mock_TwoPhotonSeries(nwbfile=nwb, name="tps_raw", imaging_plane=plane)
    corrected = ImageSeries(name="corrected", data=np.ones((3, 4, 4)), unit="n.a.", rate=10.0)
    xy = TimeSeries(name="xy_translation", data=np.zeros((3, 2)), unit="pixels", rate=10.0)
    ophys = nwb.create_processing_module(name="ophys_mc", description="mc")
    ophys.add(
        MotionCorrection(
            corrected_image_stacks=[
                CorrectedImageStack(corrected=corrected, original=raw, xy_translation=xy, name="stack")
            ]
        )
    )
    nwb.add_acquisition(TimeSeries(name="empty", data=np.empty((0, 2)), unit="u", timestamps=np.empty(0)))
    nwb.add_acquisition(TimeSeries(name="strings_ts", data=np.array(["α", "b"]), unit="u", rate=1.0))
    return nwb


class NWBDataInterfaceHolder:
    """A plain NWBData/NWBContainer pair, the base types themselves."""

    @staticmethod
    def make() -> NWBContainer:
        from pynwb.core import NWBDataInterface

        iface = NWBDataInterface(name="plain_interface")
        return iface


__all__ = ["files_from_mocks", "mock_functions", "rich_file", "NWBData"]


def forget_source(nwbfile: NWBFile) -> None:
    """Let an NWBFile that was written once be written again by another IO (hdmf refuses a second source)."""
    for obj in [nwbfile, *nwbfile.all_children()]:
        if hasattr(obj, "container_source"):
            obj._AbstractContainer__container_source = None
