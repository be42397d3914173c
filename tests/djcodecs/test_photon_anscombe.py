"""<photon@> on anscombe-transform's anscombe-v1 codec: unbiased at low counts, decodable by plain zarr,
rows of format 1 still read, settings that keep the codec's own decoding right."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from tests.djcodecs.conftest import Database, array_dirs, stored_files

dj = pytest.importorskip("datajoint")
anscombe_codec = pytest.importorskip("anscombe_transform.codec")

from zarrbridge.djcodecs import PhotonMovie, PhotonValue  # noqa: E402
from zarrbridge.djcodecs.anscombe import AnscombeParams, forward, inverse, storage_dtype  # noqa: E402
from zarrbridge.djcodecs.anscombe_v1 import INPUT_MAX, MIN_GAIN, CodecSettings, choose_settings  # noqa: E402
from zarrbridge.errors import InvalidOptionError  # noqa: E402

pytestmark = pytest.mark.db

FIXTURE = Path(__file__).parent / "fixtures" / "photon_v1"


def declare_scan(schema: Any) -> Any:
    class Scan(dj.Manual):
        definition = """
        scan_id : int32
        ---
        movie : <photon@mystore>
        """

    return schema(Scan)


def simulate(
    rate: float,
    *,
    gain: float,
    zero: float,
    read_noise: float,
    seed: int = 0,
    shape: tuple[int, ...] = (60, 32, 32),
) -> tuple[np.ndarray[Any, Any], float]:
    """(uint16 readings, their expected value): ``gain * Poisson(rate) + zero + Normal(0, read_noise)``."""
    rng = np.random.default_rng(seed)
    readings = gain * rng.poisson(rate, shape) + zero + rng.normal(0, read_noise, shape)
    return np.clip(np.rint(readings), 0, 65535).astype("u2"), gain * rate + zero


# (gain, zero level, read noise): the case (read noise of one photon), a camera with little read
# noise, noise-free counts at a high gain (all zero-photon pixels share one code), a photon counter (gain 1)
DETECTORS = [(30.0, 500.0, 30.0), (30.0, 500.0, 3.0), (30.0, 500.0, 0.0), (1.0, 0.0, 0.0)]


@pytest.mark.parametrize("gain, zero, read_noise", DETECTORS)
def test_low_counts_come_back_unbiased(
    postgres: Database, store_dir: Path, make_schema: Any, gain: float, zero: float, read_noise: float
) -> None:
    inst = postgres.instance({"mystore": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_scan(make_schema(inst))
    rates = [0.1, 0.2, 1.0, 30.0]
    movies = [simulate(r, gain=gain, zero=zero, read_noise=read_noise, seed=i) for i, r in enumerate(rates)]
    Scan.insert(
        {"scan_id": i, "movie": PhotonValue(m, sensitivity=gain, zero_level=zero)}
        for i, (m, _) in enumerate(movies)
    )
    for i, (movie, mean) in enumerate(movies):
        got = np.asarray((Scan & {"scan_id": i}).fetch1("movie"))
        noise_sd = float(np.std(movie - mean))
        error = got - movie
        assert abs(float(np.mean(error))) / noise_sd < 0.06, (rates[i], np.mean(error) / noise_sd)
        assert float(np.std(error)) / noise_sd < 0.35  # 0.144 at high counts; coarser where bins are few
    if read_noise == gain and rates[1] == 0.2:  # the figure for format 1: clipped at zero photons
        movie, mean = movies[1]
        params = AnscombeParams(gain, zero, 0.5)
        old = inverse(forward(movie, params, storage_dtype(movie.max(), params)), params)
        assert float(np.mean(old - movie)) / float(np.std(movie - mean)) > 0.25


def test_the_stored_array_is_the_movie_for_any_zarr_reader(
    postgres: Database, store_dir: Path, make_schema: Any
) -> None:
    inst = postgres.instance({"mystore": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_scan(make_schema(inst))
    movie, _ = simulate(2.0, gain=30.0, zero=500.0, read_noise=3.0, shape=(40, 16, 16))
    Scan.insert1(
        {"scan_id": 1, "movie": PhotonValue(movie, sensitivity=30.0, zero_level=500.0, frames_per_chunk=8)}
    )
    got = Scan.fetch1("movie")
    assert isinstance(got, PhotonMovie) and got.dtype == np.float32 and got.original_dtype == np.dtype("u2")
    [folder] = array_dirs(store_dir)
    plain = zarr.open_array(str(store_dir / folder), mode="r")  # zarr + anscombe-transform, no zarrbridge
    assert plain.dtype == np.dtype("u2") and plain.chunks == (8, 16, 16)
    [entry] = [c for c in plain.metadata.to_dict()["codecs"] if c["name"] == "anscombe-v1"]
    assert entry["configuration"]["encoded_dtype"] == "uint8"
    np.testing.assert_array_equal(np.asarray(got), plain[:].astype("f4"))
    np.testing.assert_array_equal(got[3:5], plain[3:5].astype("f4"))
    assert got.quantised.dtype == np.uint8 and int(got.quantised[:].max()) < 255
    assert got.array.dtype == np.dtype("u2") and got.array.read_only
    assert np.abs(np.asarray(got) - movie).max() <= 30.0 * 0.5 * np.sqrt(movie.max() / 30.0 + 1)


def test_format_1_rows_still_fetch(postgres: Database, store_dir: Path, make_schema: Any) -> None:
    """Rows written by zarrbridge's earlier transform (committed fixture) fetch exactly as they did."""
    inst = postgres.instance({"mystore": {"protocol": "file", "location": str(store_dir)}})
    schema = make_schema(inst)
    Scan = declare_scan(schema)
    shutil.copytree(FIXTURE / "store", store_dir, dirs_exist_ok=True)
    for row in json.loads((FIXTURE / "rows.json").read_text()):
        assert row["movie"]["format_version"] == 1
        Scan.connection.query(
            f"INSERT INTO {Scan.full_table_name} (scan_id, movie) VALUES (%s, %s)",
            args=(row["scan_id"], json.dumps(row["movie"])),
        )
    with np.load(FIXTURE / "expected.npz") as npz:
        want = {k: npz[k] for k in npz.files}
    for rid in (1, 2):
        got = (Scan & {"scan_id": rid}).fetch1("movie")
        assert isinstance(got, PhotonMovie) and got.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(got), want[f"fetched_{rid}"])
        assert got.quantised.dtype == np.uint8 and got.original_dtype == want[f"movie_{rid}"].dtype
    assert (Scan & {"scan_id": 1}).fetch1("movie").params == AnscombeParams(30.0, 500.0, 0.5)


@pytest.mark.parametrize(
    "movie, match",
    [
        (np.full((3, 4, 4), 40000, dtype="u2"), "readings from 40000 to 40000"),
        (np.full((3, 4, 4), -5, dtype="i2"), "readings from -5 to -5"),
        (np.full((3, 4, 4), np.inf), "NaN or infinite"),
    ],
)
def test_readings_the_codec_would_clamp_are_refused(
    postgres: Database, store_dir: Path, make_schema: Any, movie: Any, match: str
) -> None:
    inst = postgres.instance({"mystore": {"protocol": "file", "location": str(store_dir)}})
    Scan = declare_scan(make_schema(inst))
    with pytest.raises(InvalidOptionError, match=match):
        Scan.insert1({"scan_id": 1, "movie": PhotonValue(movie, sensitivity=30.0, zero_level=100.0)})
    assert stored_files(store_dir) == [] and len(Scan()) == 0


@pytest.mark.parametrize("gain", [0.5, 1.0, 3.0, 3.3, 12.5, 30.0, 200.0])
@pytest.mark.parametrize("zero", [0.0, 37.4, 100.0, 500.0, 2000.0])
def test_settings_keep_the_codecs_decoding_right(gain: float, zero: float) -> None:
    """Every reading's code is consecutive to its neighbour's and fits the encoded type, and the zero level
    sits in the middle of its code's readings: the codec's own decoding then returns each bin's midpoint."""
    settings = choose_settings(sensitivity=gain, zero_level=zero, decoded_dtype="int16")
    assert settings.conversion_gain >= MIN_GAIN and settings.conversion_gain >= min(gain, MIN_GAIN)
    assert settings.zero_level == round(zero)
    readings = np.arange(INPUT_MAX + 1, dtype="int16")
    codes = anscombe_codec.encode(
        readings,
        conversion_gain=settings.conversion_gain,
        zero_level=settings.zero_level,
        encoded_dtype=settings.encoded_dtype,
    )
    steps = np.diff(codes.astype("i8"))
    assert codes[0] == 0 and set(np.unique(steps)) <= {0, 1}  # no skipped code, no wrap-around
    decoded = anscombe_codec.decode(
        codes.tobytes(),
        conversion_gain=settings.conversion_gain,
        zero_level=settings.zero_level,
        encoded_dtype=settings.encoded_dtype,
        decoded_dtype="int16",
    )
    share = readings[codes == codes[settings.zero_level]]
    if share.min() > 0:  # (a zero level of 0 has no readings below it: its code's readings start there)
        assert (
            abs(int(decoded[settings.zero_level]) - settings.zero_level)
            <= 1 + (share.max() - share.min()) // 8
        )
    assert np.all(
        np.abs(decoded.astype("i8") - readings)
        <= np.maximum(1, settings.conversion_gain * 0.3 * np.sqrt(readings / settings.conversion_gain + 1))
    )


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidOptionError, match="outside 0..32767"):
        choose_settings(sensitivity=30.0, zero_level=-20.0, decoded_dtype="int16")
    with pytest.raises(InvalidOptionError, match="below"):
        CodecSettings(zero_level=0, conversion_gain=1.0, encoded_dtype="uint8", decoded_dtype="int16")
    with pytest.raises(InvalidOptionError, match="overflow uint8"):
        CodecSettings(zero_level=0, conversion_gain=3.5, encoded_dtype="uint8", decoded_dtype="int16")


def test_without_anscombe_transform_the_extra_is_named() -> None:
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, warnings
        warnings.simplefilter("ignore")
        sys.modules["anscombe_transform"] = None  # as if not installed
        import zarrbridge.djcodecs  # <zarr@> and reading format-1 rows need no anscombe-transform
        from zarrbridge.djcodecs.anscombe_v1 import codec_module
        try:
            codec_module()
        except ImportError as exc:
            print(type(exc).__name__, exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingDependencyError") and 'pip install "zarrbridge[datajoint]"' in out
