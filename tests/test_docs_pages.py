"""The documentation's own checks, run without Sphinx: the troubleshooting page has one entry per error class.

The docs build (``scripts/docs.sh``) runs the same check through ``docs/_ext/zbtrouble.py``; this keeps a new
class of ``zarrbridge.errors`` without its entry from passing the test suite too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from zarrbridge import errors

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _zbtrouble() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zbtrouble", DOCS / "_ext" / "zbtrouble.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_error_class_has_one_troubleshooting_entry() -> None:
    zbtrouble = _zbtrouble()
    assert zbtrouble.problems(DOCS / "troubleshooting.md") == []
    entries = zbtrouble.documented_classes((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))
    assert set(entries) == {name for name in errors.__all__ if isinstance(getattr(errors, name), type)}


def test_a_missing_or_unknown_entry_is_reported(tmp_path: Path) -> None:
    zbtrouble = _zbtrouble()
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    page = tmp_path / "troubleshooting.md"
    page.write_text(text.replace("## StoreInUseError\n", "## NoSuchError\n"), encoding="utf-8")
    found = zbtrouble.problems(page)
    assert found == [
        "no entry for StoreInUseError",
        "entries for classes zarrbridge.errors does not export: NoSuchError",
    ]
    page.write_text(text + "\n## BrokenLinkError\n\nagain\n", encoding="utf-8")
    assert zbtrouble.problems(page) == ["more than one entry for BrokenLinkError"]
