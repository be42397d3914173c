"""<photon@store>: the transform's error against photon noise, compression against <zarr@>,
lazy read-only fetch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.djcodecs.conftest import Database, declare_recording

dj = pytest.importorskip("datajoint")

from zarrbridge.djcodecs import AnscombeParams, PhotonCodec, PhotonMovie, PhotonValue, ZarrValue  # noqa: E402
from zarrbridge.djcodecs.anscombe import estimate_sensitivity, forward, inverse, storage_dtype  # noqa: E402
from zarrbridge.errors import (  # noqa: E402
    CorruptMetadataError,
    InvalidOptionError,
    ReadOnlyError,
    UnsupportedDtypeError,
    UnsupportedFormatVersionError,
)

GAIN, ZERO = 30.0, 500.0


def poisson_movie(
    frames: int = 120, size: int = 48, seed: int = 0
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(readings as uint16, expected readings): gain 30 units/photon, offset 500, 0.5-30 photons/pixel."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.5, 30, (size, size)) * (1 + 0.5 * np.sin(np.arange(frames) / 10))[:, None, None]
    readings = GAIN * rng.poisson(rate) + ZERO + rng.normal(0, 3, rate.shape)
    return np.clip(np.rint(readings), 0, 65535).astype("u2"), GAIN * rate + ZERO


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_estimated_sensitivity_and_zero_level() -> None:
    movie, _ = poisson_movie()
    sensitivity, zero = estimate_sensitivity(movie)
    assert sensitivity == pytest.approx(GAIN, rel=0.05)
    assert zero == pytest.approx(ZERO, abs=10)


@settings(max_examples=40, deadline=None)
@given(
    photons=st.lists(st.integers(0, 5000), min_size=1, max_size=50),
    beta=st.floats(0.1, 1.0),
    gain=st.floats(0.5, 50),
)
def test_quantisation_error_is_bounded_by_beta(photons: list[int], beta: float, gain: float) -> None:
    params = AnscombeParams(gain, 100.0, beta)
    x = np.asarray(photons, dtype="f8") * gain + 100.0
    back = inverse(forward(x, params, storage_dtype(x.max(), params)), params)
    # rounding y by at most beta/2 moves n = (y/2)^2 - 3/8 by at most (beta/2) * sqrt(n + 3/8) + beta^2/16
    bound = gain * ((beta / 2) * np.sqrt(np.asarray(photons) + 0.375) + beta**2 / 16) + 1e-3 * gain + 1e-2
    assert np.all(np.abs(back - x) <= bound)


def test_error_stays_under_photon_noise(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Scan = declare_recording(schema, codec="photon")
    movie, expected = poisson_movie()
    Scan.insert1({"recording_id": 1, "waveform": movie})
    got = Scan.fetch1("waveform")
    assert isinstance(got, PhotonMovie) and got.shape == movie.shape and got.dtype == np.float32
    error = np.asarray(got) - movie
    noise = movie - expected
    assert np.std(error) / np.std(noise) < 0.2  # documented: about 0.15 of the photon noise at beta = 0.5
    assert abs(np.mean(error)) / np.std(noise) < 0.02  # no visible bias


def test_photon_vs_zarr_compression(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)

    @schema
    class Scan(dj.Manual):
        definition = """
        scan : int32
        ---
        photon : <photon@main>
        plain : <zarr@main>
        plainzstd : <zarr@main>
        """

    movie, _ = poisson_movie()
    # <zarr@>'s default for this one-chunk movie is Blosc-lz4; above one chunk it uses Blosc-zstd level 3
    zstd = zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")
    Scan.insert1(
        {"scan": 1, "photon": movie, "plain": movie, "plainzstd": ZarrValue(movie, compressors=zstd)}
    )
    sizes = {p.name.split("_")[0]: folder_bytes(p) for p in store_dir.rglob("*.zarr")}
    # (benchmarks/bench_photon.py and docs/djcodecs.md give the ratios for other movies)
    assert sizes["plain"] / sizes["photon"] > 2.5 and sizes["plainzstd"] / sizes["photon"] > 2.0
    row = Scan.fetch1("photon")
    assert row.quantised.dtype == np.uint8 and row.chunks[1:] == movie.shape[1:]  # whole frames per chunk


def test_lazy_read_only_and_metadata(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    da = pytest.importorskip("dask.array")
    inst = postgres.instance({"main": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_recording(make_schema(inst), codec="photon")
    movie, _ = poisson_movie(frames=60, size=32)
    lazy = da.from_array(movie, chunks=(7, 32, 32))
    Scan.insert(
        [
            {
                "recording_id": 1,
                "waveform": PhotonValue(movie, sensitivity=GAIN, zero_level=ZERO, frames_per_chunk=10),
            },
            {"recording_id": 2, "waveform": lazy},
        ]
    )
    one = (Scan & {"recording_id": 1}).fetch1("waveform")
    assert one.chunks == (10, 32, 32) and one.params.zero_level == ZERO and one.params.beta == 0.5
    assert one.params.sensitivity == pytest.approx(GAIN, rel=0.02)  # centred on the zero level
    np.testing.assert_allclose(one[5], movie[5], atol=GAIN * 3)
    assert one[2:4, :3].shape == (2, 3, 32)
    two = (Scan & {"recording_id": 2}).fetch1("waveform")
    np.testing.assert_allclose(np.asarray(two), np.asarray(one), atol=GAIN * 3)
    with pytest.raises(ReadOnlyError):
        one[0] = 0
    with pytest.raises(ReadOnlyError):
        one.quantised[0] = 0
    row = Scan.proj("waveform").cursor(as_dict=True).fetchone()["waveform"]
    meta = row if isinstance(row, dict) else json.loads(row)
    assert meta["transform"]["name"] == "anscombe-v1" and meta["format_version"] == 2
    codec = PhotonCodec()
    with pytest.raises(UnsupportedFormatVersionError):
        codec.decode({**meta, "format_version": 3})
    config = {"config": inst.connection._config}
    zjson = store_dir / meta["path"] / "zarr.json"
    doc = json.loads(zjson.read_text())
    [entry] = [c for c in doc["codecs"] if c["name"] == "anscombe-v1"]
    entry["configuration"]["conversion_gain"] = 1.0  # the codec's table would skip codes: wrong decoding
    zjson.write_text(json.dumps(doc))
    with pytest.raises(CorruptMetadataError, match="bad anscombe-v1 codec entry.*skipped"):
        codec.decode(meta, context=config)


@pytest.mark.parametrize(
    "value, error",
    [
        (np.zeros((4, 4)), InvalidOptionError),  # not (frames, height, width)
        (np.zeros((2, 2, 2), dtype="c8"), UnsupportedDtypeError),
        (np.zeros((2, 2, 2), dtype="U1"), UnsupportedDtypeError),
    ],
)
def test_photon_bad_values(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        PhotonCodec().validate(value)


def test_photon_bad_options_and_data() -> None:
    movie, _ = poisson_movie(frames=4, size=8)
    with pytest.raises(InvalidOptionError, match="both"):
        PhotonValue(movie, sensitivity=2.0)
    with pytest.raises(InvalidOptionError, match="beta"):
        PhotonValue(movie, beta=5)
    with pytest.raises(InvalidOptionError, match="NaN"):
        forward(np.array([np.nan]), AnscombeParams(1.0, 0.0), np.dtype("u1"))
    with pytest.raises(InvalidOptionError, match="too little spread|photon-limited"):
        estimate_sensitivity(np.full((5, 8, 8), 7.0))
    with pytest.raises(InvalidOptionError, match="at least 2 frames"):
        estimate_sensitivity(movie[:1])
