"""The JSON result the benchmarks write (``--json PATH``), which ``benchmarks/plots.py`` turns into figures.

A result holds the benchmark's name and command line, its settings, a stamp (date, machine, versions of the
packages that matter) and *panels*: one chart each, a list of bars (one per method) with one value per
series (``save``/``load``, ``write``/``read``...). Nothing here times anything: the benchmarks measure, this
module only records what they measured.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Panel", "machine", "versions", "write_result"]

PACKAGES = (
    "zarrbridge",
    "zarr",
    "numcodecs",
    "numpy",
    "h5py",
    "hdmf",
    "pynwb",
    "dask",
    "distributed",
    "s3fs",
    "datajoint",
)


@dataclass
class Panel:
    """One chart: ``bars`` maps a method's label to its value for each series."""

    title: str
    unit: str
    better: str  # "higher" or "lower"
    series: list[str]
    bars: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def add(self, label: str, **values: float | None) -> None:
        """Record the values of one method (``None`` or NaN where it has no value for a series)."""
        kept: dict[str, float | None] = {}
        for name in self.series:
            value = values.get(name)
            kept[name] = None if value is None or math.isnan(value) else float(value)
        self.bars[label] = kept

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "title": self.title,
            "unit": self.unit,
            "better": self.better,
            "series": self.series,
            "bars": [{"label": k, "values": v} for k, v in self.bars.items()],
        }


def machine() -> dict[str, Any]:
    """What the numbers were measured on (no host name)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    return {
        "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
    }


def versions() -> dict[str, str]:
    """The installed versions of the packages the benchmarks compare."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def write_result(
    path: str | os.PathLike[str], *, benchmark: str, title: str, settings: dict[str, Any], panels: list[Panel]
) -> None:
    """Write the result document to ``path`` (its folder is created)."""
    document = {
        "benchmark": benchmark,
        "title": title,
        "command": " ".join(["python", f"benchmarks/{benchmark}.py", *sys.argv[1:]]),
        "settings": settings,
        "stamp": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(),
        },
        "panels": [p.to_dict() for p in panels],
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"result written to {target}")
