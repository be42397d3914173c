"""Write one NWBFile with NWBHDF5IO and NWBZarrIO and read both back (shared by the NWB tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nwb_compare import compare_builders, compare_nwbfiles
from nwb_content import forget_source
from pynwb import NWBHDF5IO

from zarrbridge import NWBZarrIO


@dataclass
class Reads:
    """The HDF5 and Zarr reads of the same NWBFile (both IOs stay open until the fixture closes them)."""

    h5_io: NWBHDF5IO
    zarr_io: NWBZarrIO
    h5: Any
    zarr: Any

    def differences(self) -> list[str]:
        """Container-level and builder-level differences, each with the path where it was found."""
        containers = compare_nwbfiles(self.h5, self.zarr)
        builders = compare_builders(self.h5_io.read_builder(), self.zarr_io.read_builder())
        assert containers.objects > 5 and builders.objects > 20  # the comparers really walked the files
        return [f"container {d}" for d in containers.differences] + [
            f"builder {d}" for d in builders.differences
        ]


class ReadPair:
    """Opens the IOs it hands out and closes all of them at teardown."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ios: list[Any] = []

    def __call__(self, nwbfile: Any, name: str) -> Reads:
        h5_path, zarr_path = self.base / f"{name}.nwb", self.base / f"{name}.nwb.zarr"
        with NWBHDF5IO(h5_path, mode="w") as io:
            io.write(nwbfile)
        forget_source(nwbfile)
        with NWBZarrIO(zarr_path, mode="w") as zio:
            zio.write(nwbfile)
        return self.open(h5_path, zarr_path)

    def open(self, h5_path: Path, zarr_path: Path) -> Reads:
        h5_io, zarr_io = NWBHDF5IO(h5_path, mode="r"), NWBZarrIO(zarr_path, mode="r")
        self.ios += [h5_io, zarr_io]
        return Reads(h5_io, zarr_io, h5_io.read(), zarr_io.read())

    def close(self) -> None:
        for io in self.ios:
            io.close()
