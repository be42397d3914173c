"""Untrusted bytes cannot crash or exhaust the reader (issue 11): hostile pickles through every entry point.

Every case runs in a child process with a 2 GiB data limit, so that a SIGSEGV or an allocation of gigabytes
fails the test (by the child's return code or peak memory) instead of killing pytest or the machine. Entry
points: the core restricted unpickler (one child per case), a restricted :meth:`ResultStorage.load` and a
legacy hdmf-zarr file whose Pickle-encoded reference column holds the payload (one child each, running every
case in turn and reporting each before the next starts).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numcodecs
import pytest
from hostile_pickles import CASES, Case

HERE = Path(__file__).resolve().parent
LEGACY = HERE.parent / "fixtures" / "legacy"
REFERENCES = "general/extracellular_ephys/electrodes/group"  # a Pickle object array of link_target.nwb.zarr
DATA_LIMIT = 2 * 2**30
PEAK_LIMIT_MB = (
    600  # far below any payload's request; a child that allocated what it was asked for exceeds it
)

EXPECTED = {
    "unsafe": ("UnsafePickleError",),
    "limit": ("ResourceLimitError",),
    "corrupt": ("CorruptMetadataError", "CorruptChunkError"),
    "refused": ("UnsafePickleError", "ResourceLimitError", "CorruptMetadataError", "CorruptChunkError"),
    "ok": ("ok",),
}

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_DATA, ({limit}, {limit}))
    entry, workdir, names = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

    def run(name, payload):
        if entry == "loads":
            from zarrbridge.core.safe_pickle import restricted_loads
            value = restricted_loads(payload, what=name)
            if repr(value) == "dtype('O')":  # numpy's shared object dtype must be intact afterwards
                import numpy as np
                assert np.dtype("O").hasobject and np.dtype("O").flags == 63, np.dtype("O").flags
            return value
        if entry == "result":
            from zarrbridge.serializers import storage_factory
            storage = storage_factory({{"kind": "file", "options": {{"path": workdir + "/results"}}}})
            manifest = json.loads(storage._get("results/r.json"))
            with open(workdir + "/results/" + manifest["pickle"], "wb") as f:
                f.write(payload)
            return storage.load("r", restricted=True)
        if entry == "legacy":
            import numcodecs
            from zarrbridge import ZarrIO
            with open(workdir + "/file.nwb.zarr/{references}/0", "wb") as f:
                f.write(numcodecs.Blosc(cname="lz4", clevel=5).encode(payload))
            with ZarrIO(workdir + "/file.nwb.zarr", "r") as io:
                return io.get_builder("/{references}").data[:]
        raise ValueError(entry)

    for name in names:
        payload = open(workdir + "/payloads/" + str(names.index(name)), "rb").read()
        print(json.dumps({{"start": name}}), flush=True)
        try:
            value = run(name, payload)
            out = {{"outcome": "ok", "value": repr(value)[:200]}}
        except Exception as exc:
            out = {{
                "outcome": type(exc).__name__,
                "message": str(exc),
                "from_memory_error": isinstance(exc.__cause__, MemoryError),
            }}
        out["name"] = name
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(json.dumps(out), flush=True)
    """
).format(limit=DATA_LIMIT, references=REFERENCES)


def run_child(entry: str, workdir: Path, cases: list[Case]) -> tuple[int, dict[str, dict[str, Any]], str]:
    """Run ``cases`` through ``entry`` in one child; returns its return code, each case's report, stderr."""
    payloads = workdir / "payloads"
    payloads.mkdir(exist_ok=True)
    for i, case in enumerate(cases):
        (payloads / str(i)).write_bytes(case.payload)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, entry, str(workdir), json.dumps([c.name for c in cases])],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    reports: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "start" in record:
            reports[record["start"]] = {"outcome": "died here", "peak_mb": 0}
        else:
            reports[record["name"]] = record
    return proc.returncode, reports, proc.stderr[-3000:]


def check(
    case: Case, report: dict[str, Any] | None, returncode: int, stderr: str, expected: str, where: str
) -> None:
    """The child reached the case, answered ``expected`` with a message naming ``where``, and stayed small."""
    assert report is not None, f"{case.name}: the child died before reaching it (rc {returncode}): {stderr}"
    assert report["outcome"] in EXPECTED[expected], (
        f"{case.name}: expected {expected}, got {report} (child rc {returncode}): {stderr}"
    )
    assert report["peak_mb"] < PEAK_LIMIT_MB, f"{case.name}: the child peaked at {report['peak_mb']} MB"
    assert not report.get("from_memory_error"), f"{case.name}: refused only after numpy ran out of memory"
    if report["outcome"] != "ok":
        assert where in report["message"], report["message"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_restricted_unpickler(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    returncode, reports, stderr = run_child("loads", tmp_path, [case])
    assert returncode == 0, f"{name}: the child died with {returncode}: {stderr}"
    check(case, reports.get(name), returncode, stderr, case.outcome, case.name)


@pytest.fixture(scope="module")
def result_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, dict[str, Any]], str]:
    from zarrbridge.serializers import storage_factory

    workdir = tmp_path_factory.mktemp("results")
    storage_factory({"kind": "file", "options": {"path": str(workdir / "results")}}).save("r", [1, 2])
    return run_child("result", workdir, list(CASES.values()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_restricted_result_load(
    result_reports: tuple[int, dict[str, dict[str, Any]], str], name: str
) -> None:
    returncode, reports, stderr = result_reports
    check(CASES[name], reports.get(name), returncode, stderr, CASES[name].outcome, "result 'r'")


@pytest.fixture(scope="module")
def legacy_reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, dict[str, Any]], str]:
    workdir = tmp_path_factory.mktemp("legacy")
    shutil.copytree(LEGACY / "link_target.nwb.zarr", workdir / "file.nwb.zarr")
    return run_child("legacy", workdir, list(CASES.values()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_legacy_pickle_chunk(legacy_reports: tuple[int, dict[str, dict[str, Any]], str], name: str) -> None:
    returncode, reports, stderr = legacy_reports
    check(
        CASES[name],
        reports.get(name),
        returncode,
        stderr,
        CASES[name].legacy_outcome,
        f"{REFERENCES} chunk 0",
    )


def test_the_crash_cases_do_crash_an_ordinary_unpickler(tmp_path: Path) -> None:
    """The guards are what keeps the process alive: plain ``pickle.loads`` dies of SIGSEGV on these."""
    crashing = [case for case in CASES.values() if case.crash]
    assert len(crashing) >= 3
    for case in crashing:
        path = tmp_path / "payload"
        path.write_bytes(case.payload)
        proc = subprocess.run(
            [sys.executable, "-c", f"import pickle; print(pickle.loads(open({str(path)!r}, 'rb').read()))"],
            capture_output=True,
            timeout=120,
        )
        assert proc.returncode == -11, f"{case.name}: plain pickle.loads returned {proc.returncode}"


@contextlib.contextmanager
def zarr_reference_class() -> Iterator[type]:
    """A stand-in ``hdmf_zarr.utils.ZarrReference`` (a dict subclass), importable while the block runs."""
    module = types.ModuleType("hdmf_zarr.utils")
    exec("class ZarrReference(dict):\n    pass\n", module.__dict__)
    module.ZarrReference.__module__ = "hdmf_zarr.utils"
    parent = types.ModuleType("hdmf_zarr")
    parent.utils = module  # type: ignore[attr-defined]
    sys.modules.update({"hdmf_zarr": parent, "hdmf_zarr.utils": module})
    try:
        yield module.ZarrReference
    finally:
        del sys.modules["hdmf_zarr.utils"], sys.modules["hdmf_zarr"]


def test_genuine_legacy_references_still_load(tmp_path: Path) -> None:
    """The same file and entry point read genuine reference records, pickled with every protocol."""
    import numpy as np

    from zarrbridge import ZarrIO
    from zarrbridge.zarrio.legacy import unpickle_legacy

    path = tmp_path / "file.nwb.zarr"
    shutil.copytree(LEGACY / "link_target.nwb.zarr", path)
    chunk = path / REFERENCES / "0"
    with ZarrIO(path, "r") as io:
        expected = [b.path for b in io.get_builder(f"/{REFERENCES}").data[:]]
    records = unpickle_legacy(bytes(numcodecs.Blosc().decode(chunk.read_bytes())), what="genuine")
    assert len(expected) == len(records) == 4
    for protocol in (2, 3, 4, 5):
        with zarr_reference_class() as reference:
            values = np.empty(len(records), dtype=object)
            for i, record in enumerate(records):
                values[i] = reference(record)
            payload = pickle.dumps(values, protocol=protocol)
        chunk.write_bytes(numcodecs.Blosc().encode(payload))
        with ZarrIO(path, "r") as io:
            assert [b.path for b in io.get_builder(f"/{REFERENCES}").data[:]] == expected, protocol
