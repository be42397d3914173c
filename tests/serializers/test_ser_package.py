"""Top-level names, the missing-extra error, and the documentation of unpickling as code execution."""

from __future__ import annotations

import subprocess
import sys

import zarrbridge
from zarrbridge.serializers import restricted


def test_top_level_names() -> None:
    from zarrbridge import (
        FILE_PROTOCOL,
        S3_PROTOCOL,
        DaskArraySerializer,
        NumpyArraySerializer,
        storage_factory,
    )
    from zarrbridge.serializers import storage_factory as direct

    assert (FILE_PROTOCOL, S3_PROTOCOL) == ("file_protocol", "s3 protocol")  # Function Fuse's values
    assert DaskArraySerializer.serializer_class.__module__.startswith("dask.array")
    assert NumpyArraySerializer.name == "numpy-array"
    assert storage_factory is direct
    assert "DaskArraySerializer" in dir(zarrbridge)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_missing_dask_names_the_extra() -> None:
    proc = _run(
        "import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\n"
        "import zarrbridge\n"
        "from zarrbridge.errors import MissingDependencyError\n"
        "try:\n    zarrbridge.DaskArraySerializer\n"
        "except MissingDependencyError as e:\n    print('EXTRA', e.extra, '|', e)\n"
    )
    assert "EXTRA dask |" in proc.stdout, proc.stderr
    assert 'pip install "zarrbridge[dask]"' in proc.stdout


def test_core_does_not_import_dask() -> None:
    proc = _run("import sys, zarrbridge, zarrbridge.daskwrite; print('dask' in sys.modules)")
    assert proc.stdout.strip() == "False", proc.stderr


def test_unpickling_is_documented_as_code_execution() -> None:
    assert restricted.__doc__ is not None and "runs code" in restricted.__doc__
    from zarrbridge.serializers import ResultStorage

    assert "runs whatever code" in (ResultStorage.load.__doc__ or "")


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    names = [
        "zarrbridge.daskwrite",
        "zarrbridge.serializers",
        "zarrbridge.serializers.memoize",
        "zarrbridge.serializers.storage",
        "zarrbridge.serializers.dask_zarr",
        "zarrbridge.serializers.dask_hdf5",
        "zarrbridge.serializers.protocols",
        "zarrbridge.serializers.dask_array",
        "zarrbridge.serializers.numpy_array",
    ]
    for name in names:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, name
