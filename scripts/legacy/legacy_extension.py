"""The ``ndx-legacy-kinds`` NWB extension used by the legacy fixtures (runs in the legacy venv only).

One neurodata type, ``LegacyKinds``, holds one dataset or attribute of every HDMF data kind that the legacy
hdmf-zarr convention encodes differently (see ``docs/format.md``, "Reading legacy hdmf-zarr files"): numeric
types, bool, text/ascii/isodatetime strings, scalars, empty datasets, compound types with and without
reference fields, datasets of object references, attributes of every dtype including a reference,
and a soft link.
"""

from __future__ import annotations

from pathlib import Path

NAMESPACE = "ndx-legacy-kinds"
VERSION = "0.1.0"
TYPE_NAME = "LegacyKinds"
COMPOUND_REFS_TYPE = "LegacyCompoundRefs"
REFERENCES_TYPE = "LegacyReferences"

# (dataset name, dtype, shape) of the simple datasets; shape None means scalar.
SIMPLE_DATASETS: tuple[tuple[str, str, list[int | None] | None], ...] = (
    ("int8_data", "int8", [None]),
    ("uint16_data", "uint16", [None, None]),
    ("int32_data", "int32", [None]),
    ("int64_data", "int64", [None]),
    ("uint64_data", "uint64", [None]),
    ("float32_data", "float32", [None]),
    ("float64_data", "float64", [None, None]),
    ("bool_data", "bool", [None]),
    ("text_data", "text", [None]),
    ("ascii_data", "ascii", [None]),
    ("isodatetime_data", "isodatetime", [None]),
    ("scalar_int", "int32", None),
    ("scalar_float", "float64", None),
    ("scalar_bool", "bool", None),
    ("scalar_text", "text", None),
    ("scalar_ascii", "ascii", None),
    ("empty_float", "float64", [None]),
    ("empty_int", "int32", [None]),
    ("empty_text", "text", [None]),
)

SIMPLE_ATTRIBUTES: tuple[tuple[str, str, list[int | None] | None], ...] = (
    ("attr_int", "int32", None),
    ("attr_float", "float64", None),
    ("attr_bool", "bool", None),
    ("attr_text", "text", None),
    ("attr_int_list", "int64", [None]),
    ("attr_float_list", "float64", [None]),
    ("attr_text_list", "text", [None]),
    ("attr_int_2d", "int32", [None, None]),
)


def build_extension(directory: Path) -> Path:
    """Write the namespace and spec YAML files to ``directory`` and return the namespace file path."""
    from pynwb.spec import (
        NWBAttributeSpec,
        NWBDatasetSpec,
        NWBDtypeSpec,
        NWBGroupSpec,
        NWBLinkSpec,
        NWBNamespaceBuilder,
        NWBRefSpec,
    )

    builder = NWBNamespaceBuilder(
        doc="Every data kind of the legacy hdmf-zarr convention, for zarrbridge's fixtures.",
        name=NAMESPACE,
        version=VERSION,
        author="zarrbridge",
        contact="zarrbridge@example.org",
    )
    builder.include_type("NWBDataInterface", namespace="core")
    builder.include_type("TimeSeries", namespace="core")
    builder.include_type("Device", namespace="core")
    builder.include_type("NWBData", namespace="core")

    datasets = [
        NWBDatasetSpec(name=name, doc=f"a {dtype} dataset", dtype=dtype, shape=shape, quantity="?")
        for name, dtype, shape in SIMPLE_DATASETS
    ]
    datasets.append(
        NWBDatasetSpec(
            name="compound_plain",
            doc="a compound dataset without references",
            dtype=[
                NWBDtypeSpec(name="x", doc="an int field", dtype="int32"),
                NWBDtypeSpec(name="y", doc="a float field", dtype="float64"),
                NWBDtypeSpec(name="label", doc="a text field", dtype="text"),
            ],
            shape=[None],
            quantity="?",
        )
    )
    compound_refs = NWBDatasetSpec(
        neurodata_type_def=COMPOUND_REFS_TYPE,
        neurodata_type_inc="NWBData",
        doc=(
            "a compound dataset with a reference field (typed: HDMF resolves references in typed datasets "
            "only)"
        ),
        dtype=[
            NWBDtypeSpec(name="idx", doc="an int field", dtype="int32"),
            NWBDtypeSpec(name="weight", doc="a float field", dtype="float32"),
            NWBDtypeSpec(name="target", doc="a reference field", dtype=NWBRefSpec("TimeSeries", "object")),
        ],
        shape=[None],
    )
    references = NWBDatasetSpec(
        neurodata_type_def=REFERENCES_TYPE,
        neurodata_type_inc="NWBData",
        doc="a dataset of object references",
        dtype=NWBRefSpec("NWBDataInterface", "object"),
        shape=[None],
    )
    datasets.append(
        NWBDatasetSpec(
            name="compound_ref", doc="compound with references", neurodata_type_inc=COMPOUND_REFS_TYPE
        )
    )
    datasets.append(
        NWBDatasetSpec(name="ref_data", doc="object references", neurodata_type_inc=REFERENCES_TYPE)
    )
    datasets.append(
        NWBDatasetSpec(
            name="data_with_attrs",
            doc="a dataset carrying attributes, one of them a reference",
            dtype="float64",
            shape=[None],
            quantity="?",
            attributes=[
                NWBAttributeSpec(name="unit", doc="a text attribute", dtype="text"),
                NWBAttributeSpec(
                    name="source_series",
                    doc="a reference attribute",
                    dtype=NWBRefSpec("TimeSeries", "object"),
                ),
            ],
        )
    )
    attributes = [
        NWBAttributeSpec(name=name, doc=f"a {dtype} attribute", dtype=dtype, shape=shape, required=False)
        for name, dtype, shape in SIMPLE_ATTRIBUTES
    ]
    attributes.append(
        NWBAttributeSpec(
            name="attr_ref",
            doc="a reference attribute",
            dtype=NWBRefSpec("Device", "object"),
            required=False,
        )
    )
    kinds = NWBGroupSpec(
        neurodata_type_def=TYPE_NAME,
        neurodata_type_inc="NWBDataInterface",
        doc="one dataset or attribute of every legacy data kind",
        datasets=datasets,
        attributes=attributes,
        links=[NWBLinkSpec(name="linked_series", doc="a soft link", target_type="TimeSeries", quantity="?")],
    )
    for spec in (compound_refs, references, kinds):
        builder.add_spec(f"{NAMESPACE}.extensions.yaml", spec)
    builder.export(f"{NAMESPACE}.namespace.yaml", outdir=str(directory))
    return directory / f"{NAMESPACE}.namespace.yaml"
