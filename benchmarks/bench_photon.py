"""<photon@> (anscombe-v1) against <zarr@> and against <photon@>'s format 1, on simulated Poisson movies.

For each mean photon rate (0.1, 1 and 30 photons/pixel by default) and detector, a movie of readings
``gain * Poisson(rate) + zero_level + Normal(0, read_noise)`` (rounded, uint16) is written by each codec's
own write path into a folder, and read back as ``fetch`` returns it. Printed per movie:

- bias: mean(decoded - readings) in units of the readings' noise standard deviation (0 is unbiased);
- error: standard deviation of (decoded - readings) in the same units (beta / sqrt(12) = 0.144 is the
  quantisation floor of anscombe-v1's step of half the photon noise);
- ratio: bytes stored by <zarr@> (its defaults) / bytes stored by <photon@>.

Format 1 (zarrbridge's own transform, clipped at zero photons) is recomputed in memory for its bias.

Usage::

    .venv/bin/python benchmarks/bench_photon.py              # 200 frames of 128 x 128
    .venv/bin/python benchmarks/bench_photon.py --quick      # 50 frames of 64 x 64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RATES = (0.1, 1.0, 30.0)
# (label, gain in units per photon, zero level, read noise in units)
DETECTORS = (
    ("read noise 1 photon", 30.0, 500.0, 30.0),
    ("read noise 0.1 photon", 30.0, 500.0, 3.0),
    ("photon counter", 1.0, 0.0, 0.0),
)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def simulate(rate: float, gain: float, zero: float, read_noise: float, shape: tuple[int, ...]) -> Any:
    rng = np.random.default_rng(0)
    readings = gain * rng.poisson(rate, shape) + zero + rng.normal(0, read_noise, shape)
    return np.clip(np.rint(readings), 0, 65535).astype("u2"), gain * rate + zero


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    shape = (50, 64, 64) if args.quick else (200, 128, 128)
    warnings.simplefilter("ignore")
    import zarr
    from zarr.storage import LocalStore

    from zarrbridge.djcodecs import PhotonCodec, PhotonValue, ZarrCodec
    from zarrbridge.djcodecs.anscombe import AnscombeParams, forward, inverse, storage_dtype

    photon, plain = PhotonCodec(), ZarrCodec()
    root = Path(tempfile.mkdtemp(prefix="zb-bench-photon-"))
    print(
        f"movie {shape} uint16; bias and error in noise standard deviations; ratio = <zarr@> / <photon@> "
        "bytes"
    )
    header = (
        f"{'detector':<22} {'photons':>7} | {'bias':>7} {'error':>6} {'ratio':>6} | {'format 1 bias':>13}"
    )
    print(header)
    print("-" * len(header))
    try:
        for label, gain, zero, read_noise in DETECTORS:
            for rate in RATES:
                movie, mean = simulate(rate, gain, zero, read_noise, shape)
                noise_sd = float(np.std(movie - mean))
                folder = root / f"{label}-{rate}".replace(" ", "_")
                meta = photon.write_value(
                    PhotonValue(movie, sensitivity=gain, zero_level=zero), LocalStore(str(folder / "photon"))
                )
                plain.write_value(movie, LocalStore(str(folder / "zarr")))
                array = zarr.open_array(str(folder / "photon"), mode="r")
                got = np.asarray(photon.wrap_fetched(array, {"path": str(folder / "photon"), **meta}))
                error = got - movie
                ratio = folder_bytes(folder / "zarr") / folder_bytes(folder / "photon")
                params = AnscombeParams(gain, zero, 0.5)
                old = inverse(forward(movie, params, storage_dtype(movie.max(), params)), params)
                old_bias = float(np.mean(old - movie)) / noise_sd
                print(
                    f"{label:<22} {rate:>7g} | {np.mean(error) / noise_sd:>+7.3f} "
                    f"{np.std(error) / noise_sd:>6.3f} {ratio:>5.2f}x | {old_bias:>+13.3f}"
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
