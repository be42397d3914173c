"""``progress=`` and INFO logs of convert and the data check: bytes that add up, tqdm, wrong types, caplog."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import tqdm
from hdmf.backends.hdf5 import HDF5IO, H5DataIO
from hdmf.common import DynamicTable, VectorData, get_manager

from zarrbridge.cli.datacheck import check_data
from zarrbridge.errors import InvalidOptionError
from zarrbridge.zarrio.convert import ConvertOptions, convert

DATA = np.random.default_rng(5).normal(size=(48000, 6))  # each column above export's in-memory size


def _h5_table(path: Path) -> None:
    columns = {
        "gz": H5DataIO(DATA, chunks=(6000, 6), compression="gzip"),  # copied raw (deflate re-framed)
        "plain": H5DataIO(DATA[:, :3].copy(), chunks=(12000, 3)),  # uncompressed: recompressed
    }
    table = DynamicTable(
        name="table",
        description="progress test",
        columns=[VectorData(name=k, description=k, data=v) for k, v in columns.items()],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with HDF5IO(str(path), mode="w", manager=get_manager()) as h5io:
            h5io.write(table)


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "t.h5"
    _h5_table(path)
    return path


ARRAY_BYTES = DATA.nbytes + DATA[:, :3].nbytes


def test_convert_callable_adds_up_to_the_copied_bytes(source: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    report = convert(
        source, tmp_path / "t.zarr", options=ConvertOptions(number_of_jobs=2), progress=seen.append
    )
    assert len(seen) >= 2 and sum(seen) == report.bytes_copied
    assert report.bytes_copied >= ARRAY_BYTES  # (plus the table's id column)
    back: list[int] = []
    report_back = convert(tmp_path / "t.zarr", tmp_path / "back.h5", progress=back.append)
    assert len(back) >= 2  # Zarr -> HDF5 reports block by block, not once at the end
    assert sum(back) == report_back.bytes_copied == report.bytes_copied


class Bar(tqdm.tqdm):  # type: ignore[misc]
    made: ClassVar[list[Bar]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.screen = io.StringIO()
        super().__init__(*args, file=self.screen, mininterval=0, **kwargs)
        self.final: tuple[float, float] | None = None
        Bar.made.append(self)

    def close(self) -> None:
        self.final = (self.n, self.total)
        super().close()


def test_convert_with_a_tqdm_class_and_with_true(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Bar.made.clear()
    report = convert(source, tmp_path / "a.zarr", progress=Bar)
    (bar,) = Bar.made
    assert bar.final == (report.bytes_copied, report.bytes_copied)
    assert "a.zarr" in bar.screen.getvalue()
    convert(source, tmp_path / "b.zarr", progress=True)
    err = capsys.readouterr().err
    assert "b.zarr:" in err and "B/s" in err
    convert(source, tmp_path / "c.zarr")  # off by default
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("wrong", ["on", 1, 2.5, object(), str])
def test_wrong_progress_is_refused_before_any_work(source: Path, tmp_path: Path, wrong: Any) -> None:
    with pytest.raises(InvalidOptionError, match="progress"):
        convert(source, tmp_path / "d.zarr", progress=wrong)
    assert not (tmp_path / "d.zarr").exists()
    with pytest.raises(InvalidOptionError, match="progress"):
        check_data(str(source), kind="hdf5", progress=wrong)


@pytest.mark.parametrize("kind", ["zarr", "hdf5"])
def test_data_check_progress_adds_up_to_the_arrays(source: Path, tmp_path: Path, kind: str) -> None:
    path = source
    if kind == "zarr":
        path = tmp_path / "t.zarr"
        convert(source, path)
    seen: list[int] = []
    report = check_data(str(path), kind=kind, progress=seen.append)
    assert report.problems == [] and report.chunks >= 12
    assert len(seen) >= report.chunks - 1
    assert sum(seen) >= ARRAY_BYTES and sum(seen) == _array_bytes(path, kind)


def _array_bytes(path: Path, kind: str) -> int:
    if kind == "hdf5":
        import h5py

        sizes: list[int] = []
        with h5py.File(path, "r") as f:
            f.visititems(
                lambda _, o: (
                    sizes.append(o.size * o.dtype.itemsize if o.dtype.kind not in "OS" else 0)
                    if isinstance(o, h5py.Dataset) and o.dtype.kind != "O"
                    else None
                )
            )
        return sum(sizes)
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return sum(
        a.nbytes
        for _, a in group.members(max_depth=None)
        if isinstance(a, zarr.Array) and a.dtype.kind in "biuf"
    )


def test_convert_logs_its_choices_at_info(
    source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="zarrbridge"):
        convert(source, tmp_path / "t.zarr", options=ConvertOptions(number_of_jobs=2))
    ours = [r for r in caplog.records if r.name.startswith("zarrbridge.zarrio")]
    copies = {r.message.split(" ")[1]: r.message for r in ours if r.message.startswith("copying ")}
    assert "raw chunk copy" in copies["/gz"] and "chunks (6000, 6)" in copies["/gz"]
    assert "decode and recompress" in copies["/plain"] and "2 worker(s)" in copies["/plain"]
    assert any(r.message.startswith("converted ") for r in ours)
    assert all(r.levelno == logging.INFO for r in ours)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="zarrbridge"):
        convert(tmp_path / "t.zarr", tmp_path / "back.h5")
    assert any("HDF5 export of /gz" in r.message and "gzip" in r.message for r in caplog.records)


def test_library_code_never_prints() -> None:
    import zarrbridge

    root = Path(zarrbridge.__file__).parent
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        if "cli" not in path.relative_to(root).parts
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if line.lstrip().startswith("print(") or " print(" in line.split("#")[0].replace(">>>", "")
    ]
    assert offenders == []
