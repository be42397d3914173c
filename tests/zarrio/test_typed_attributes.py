"""Integer attributes come back with the width their spec declares, through plain ``ZarrIO`` too.

JSON stores "an integer"; the reader casts scalar integer attributes back to the spec's fixed width. NWBZarrIO
had this from the start; here an hdmf extension (not NWB) is written and read with ``ZarrIO`` and a manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdmf.build import BuildManager, TypeMap
from hdmf.common import SimpleMultiContainer, get_type_map
from hdmf.spec import AttributeSpec, GroupSpec, NamespaceBuilder
from hdmf.utils import get_docval

from zarrbridge import ZarrIO


@pytest.fixture()
def counter_type(tmp_path: Path) -> tuple[TypeMap, Any]:
    ns = NamespaceBuilder(doc="test extension", name="counters", version="0.1.0")
    ns.include_namespace("hdmf-common")
    spec = GroupSpec(
        doc="a group with fixed-width integer attributes",
        data_type_def="Counter",
        data_type_inc="Container",
        attributes=[
            AttributeSpec(name="count", doc="a count", dtype="uint16"),
            AttributeSpec(name="offset", doc="an offset", dtype="int8"),
            AttributeSpec(name="gain", doc="a float", dtype="float32"),
        ],
    )
    ns.add_spec("counters.extensions.yaml", spec)
    ns.export("counters.namespace.yaml", outdir=str(tmp_path))
    type_map = get_type_map()
    type_map.load_namespaces(str(tmp_path / "counters.namespace.yaml"))
    return type_map, type_map.get_dt_container_cls("Counter", "counters")


def test_zarrio_restores_integer_attribute_widths(tmp_path: Path, counter_type: tuple[TypeMap, Any]) -> None:
    type_map, counter_cls = counter_type
    assert {a["name"] for a in get_docval(counter_cls.__init__)} >= {"count", "offset", "gain"}
    path = tmp_path / "c.zarr"
    with ZarrIO(path, mode="w", manager=BuildManager(type_map)) as io:
        counter = counter_cls(
            name="counter", count=np.uint16(60000), offset=np.int8(-3), gain=np.float32(0.5)
        )
        io.write(SimpleMultiContainer(name="root", containers=[counter]))
    with ZarrIO(path, mode="r", manager=BuildManager(type_map)) as io:
        builder = io.read_builder()["counter"]
        assert type(builder.attributes["count"]) is np.uint16
        assert type(builder.attributes["offset"]) is np.int8
        container = io.read()["counter"]
        assert container.count == 60000 and np.asarray(container.count).dtype == np.uint16
        assert container.offset == -3 and np.asarray(container.offset).dtype == np.int8
        assert container.gain == pytest.approx(0.5)
