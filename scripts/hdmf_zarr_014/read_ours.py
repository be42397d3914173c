"""Read zarrbridge-written files with the real hdmf-zarr 0.14 and compare them with the HDF5 twins.

Usage: ``.hdmf-zarr-014-venv/bin/python scripts/hdmf_zarr_014/read_ours.py RESULT.json DIR [DIR...]``

Each ``DIR`` holds files written by ``write_ours.py`` (one zarrbridge venv, one zarr version). Every
``<name>.nwb.zarr`` is read with hdmf-zarr's ``NWBZarrIO`` and compared, container by container (object ids,
fields, values, references; ``tests/nwb/nwb_compare.py``), with ``NWBHDF5IO``'s read of
``tests/fixtures/hdmf_zarr_014/hdf5/<name>.nwb``. hdmf-zarr's read of its own file of that name
(``tests/fixtures/hdmf_zarr_014/<name>.nwb.zarr``) is the baseline: it differs from the twin in the width of
JSON integer attributes (``sweep_number`` reads as int64, not uint32), and a zarrbridge file passes when it
shows no difference that the baseline does not. Writes the outcome per file to ``RESULT.json`` and exits
non-zero when any file fails.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from hdmf.build import BuildManager
from hdmf_zarr.nwb import NWBZarrIO
from pynwb import NWBHDF5IO

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "hdmf_zarr_014"
TWINS = FIXTURES / "hdf5"
sys.path.insert(0, str(REPO / "tests" / "nwb"))

from nwb_compare import compare_nwbfiles  # noqa: E402


def check(path: Path, baseline: list[str] | None = None) -> dict[str, Any]:
    """hdmf-zarr's read of ``path`` against the twin: ``ok``, containers compared, differences or the error.

    ``ok`` when every difference is also one of ``baseline`` (hdmf-zarr's own file's).
    """
    twin = TWINS / path.name.replace(".nwb.zarr", ".nwb")
    try:
        with NWBZarrIO(str(path), mode="r") as zio:
            with NWBHDF5IO(str(twin), mode="r", manager=BuildManager(zio.manager.type_map)) as hio:
                cmp = compare_nwbfiles(zio.read(), hio.read())
    except Exception as exc:  # recorded: the point is to report what hdmf-zarr cannot read
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[-400:]}"}
    new = [d for d in cmp.differences if d not in (baseline or [])]
    return {
        "ok": not new and cmp.objects > 0,
        "containers": cmp.objects,
        "differences": cmp.differences[:20],
        "not_in_baseline": new[:20],
    }


def main(result: Path, directories: list[Path]) -> bool:
    outcome: dict[str, Any] = {
        "read_by": {n: version(n) for n in ("hdmf-zarr", "hdmf", "pynwb", "zarr", "numcodecs")}
        | {"python": platform.python_version()},
        "baseline": {},
        "files": {},
    }
    for path in sorted(FIXTURES.glob("*.nwb.zarr")):
        outcome["baseline"][path.name] = check(path)
    for directory in directories:
        for path in sorted(directory.glob("*.nwb.zarr")):
            baseline = outcome["baseline"].get(path.name, {}).get("differences")
            outcome["files"][f"{directory.name}/{path.name}"] = check(path, baseline)
    result.write_text(json.dumps(outcome, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for name, entry in outcome["files"].items():
        detail = entry.get("error") or entry.get("not_in_baseline") or ""
        print(f"{'ok  ' if entry['ok'] else 'FAIL'} {name} {detail}")
    return all(entry["ok"] for entry in outcome["files"].values())


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: read_ours.py RESULT.json DIR [DIR...]")
    sys.exit(0 if main(Path(sys.argv[1]), [Path(a) for a in sys.argv[2:]]) else 1)
