"""Sphinx extension: the troubleshooting page has exactly one entry per class of ``zarrbridge.errors``.

An entry is a second-level heading naming the class (``## BrokenLinkError``). A class in
``zarrbridge.errors.__all__`` without an entry, or an entry for a class that is not there, fails the build
(an ``ExtensionError``, whatever the warning settings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the checks below run without Sphinx too (tests/test_docs_pages.py)
    from sphinx.application import Sphinx

PAGE = "troubleshooting.md"


def documented_classes(text: str) -> list[str]:
    """The class names of the page's entries, in page order."""
    return re.findall(r"^## `?(\w+)`?\s*$", text, flags=re.M)


def error_classes() -> list[str]:
    """The classes ``zarrbridge.errors`` exports."""
    import inspect

    from zarrbridge import errors

    return [name for name in errors.__all__ if inspect.isclass(getattr(errors, name))]


def problems(page: Path) -> list[str]:
    """What is wrong with the entries of ``page``; empty when each class has exactly one."""
    entries = documented_classes(page.read_text(encoding="utf-8"))
    classes = error_classes()
    duplicated = sorted({name for name in entries if entries.count(name) > 1})
    missing = sorted(set(classes) - set(entries))
    unknown = sorted(set(entries) - set(classes))
    found = []
    if missing:
        found.append(f"no entry for {', '.join(missing)}")
    if unknown:
        found.append(f"entries for classes zarrbridge.errors does not export: {', '.join(unknown)}")
    if duplicated:
        found.append(f"more than one entry for {', '.join(duplicated)}")
    return found


def check(app: Sphinx) -> None:
    from sphinx.errors import ExtensionError

    found = problems(Path(app.srcdir) / PAGE)
    if found:
        raise ExtensionError(f"docs/{PAGE}: " + "; ".join(found) + " (one '## ClassName' section each)")


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
