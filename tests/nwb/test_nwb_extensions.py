"""An extension namespace (built here with NWBNamespaceBuilder) is cached in the file
and loaded back on read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pynwb
import pytest
from hdmf.build import BuildManager, TypeMap
from nwb_content import new_file
from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder

from zarrbridge import NWBZarrIO

NS = "ndx-zarrbridge-test"


@pytest.fixture(scope="module")
def extension(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the namespace and its types as yaml files; return the namespace file."""
    folder = tmp_path_factory.mktemp("ext")
    builder = NWBNamespaceBuilder(doc="test extension", name=NS, version="0.1.0", author="zb", contact="zb@x")
    builder.include_type("LabMetaData", namespace="core")
    builder.include_type("TimeSeries", namespace="core")
    lab = NWBGroupSpec(
        neurodata_type_def="RigInfo",
        neurodata_type_inc="LabMetaData",
        doc="rig",
        attributes=[
            NWBAttributeSpec(name="rig_name", doc="name", dtype="text"),
            NWBAttributeSpec(name="channels", doc="count", dtype="uint16"),
        ],
        datasets=[NWBDatasetSpec(name="gains", doc="gains", dtype="float32", shape=(None,))],
    )
    series = NWBGroupSpec(
        neurodata_type_def="TemperatureSeries",
        neurodata_type_inc="TimeSeries",
        doc="temp",
        attributes=[NWBAttributeSpec(name="sensor", doc="sensor", dtype="text")],
    )
    builder.add_spec(f"{NS}.extensions.yaml", lab)
    builder.add_spec(f"{NS}.extensions.yaml", series)
    builder.export(f"{NS}.namespace.yaml", outdir=str(folder))
    return folder / f"{NS}.namespace.yaml"


def _type_map(ns_path: Path) -> TypeMap:
    type_map = pynwb.get_type_map()  # a copy: the global pynwb type map is not touched
    type_map.load_namespaces(str(ns_path))
    return type_map


@pytest.fixture(scope="module")
def ext_file(extension: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    type_map = _type_map(extension)
    rig_cls = type_map.get_dt_container_cls("RigInfo", NS)
    temp_cls = type_map.get_dt_container_cls("TemperatureSeries", NS)
    nwb = new_file("ext")
    nwb.add_lab_meta_data(
        rig_cls(
            name="rig", rig_name="rig A", channels=np.uint16(64), gains=np.array([1.5, 2.5], dtype=np.float32)
        )
    )
    nwb.add_acquisition(temp_cls(name="temp", data=[36.5, 37.0], unit="C", rate=1.0, sensor="probe"))
    path = tmp_path_factory.mktemp("extfile") / "ext.nwb.zarr"
    with NWBZarrIO(path, mode="w", manager=BuildManager(type_map)) as io:
        io.write(nwb)
    return path


READ_SCRIPT = """
import json, sys
from zarrbridge import NWBZarrIO
import pynwb
assert "{ns}" not in pynwb.available_namespaces()  # a fresh process: the extension is not registered
with NWBZarrIO(sys.argv[1], mode="r") as io:
    nwb = io.read()
    rig, temp = nwb.lab_meta_data["rig"], nwb.acquisition["temp"]
    print(json.dumps({{"rig": type(rig).__name__, "rig_name": rig.rig_name, "channels": int(rig.channels),
                      "channels_dtype": str(rig.channels.dtype), "gains": rig.gains[:].tolist(),
                      "gains_dtype": str(rig.gains.dtype), "temp": type(temp).__name__, "sensor": temp.sensor,
                      "data": temp.data[:].tolist()}}))
"""


def test_extension_is_cached_and_loaded_in_a_fresh_process(ext_file: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", READ_SCRIPT.format(ns=NS), str(ext_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got == {
        "rig": "RigInfo",
        "rig_name": "rig A",
        "channels": 64,
        "channels_dtype": "uint16",
        "gains": [1.5, 2.5],
        "gains_dtype": "float32",
        "temp": "TemperatureSeries",
        "sensor": "probe",
        "data": [36.5, 37.0],
    }
    assert (ext_file / "specifications" / NS / "0.1.0").is_dir()


def test_extensions_argument_with_a_yaml_path(ext_file: Path, extension: Path) -> None:
    with NWBZarrIO(ext_file, mode="r", load_namespaces=False, extensions=extension) as io:
        rig = io.read().lab_meta_data["rig"]
        assert type(rig).__name__ == "RigInfo" and rig.rig_name == "rig A"
    with NWBZarrIO(ext_file, mode="r", load_namespaces=False, extensions=[_type_map(extension)]) as io:
        assert io.read().acquisition["temp"].sensor == "probe"


def test_without_namespaces_the_extension_type_is_not_known(ext_file: Path) -> None:
    with NWBZarrIO(ext_file, mode="r", load_namespaces=False) as io:
        assert NS not in io.manager.namespace_catalog.namespaces
    with NWBZarrIO(ext_file, mode="r") as io:
        assert NS in io.manager.namespace_catalog.namespaces
    assert NS not in pynwb.available_namespaces()  # reading never registers it globally


def test_bad_extensions(tmp_path: Path, ext_file: Path, extension: Path) -> None:
    with pytest.raises(FileNotFoundError, match="namespace.yaml"):
        NWBZarrIO(ext_file, mode="r", extensions=tmp_path / "missing.namespace.yaml")
    with pytest.raises(TypeError, match="extensions"):
        NWBZarrIO(ext_file, mode="r", extensions=[42])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="manager or extensions"):
        NWBZarrIO(ext_file, mode="r", extensions=extension, manager=pynwb.get_manager())
