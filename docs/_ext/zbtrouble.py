"""Sphinx extension: the troubleshooting page has exactly one entry per class of ``zarrbridge.errors``.

An entry is a second-level heading naming the class (``## BrokenLinkError``). A class in
``zarrbridge.errors.__all__`` without an entry, or an entry for a class that is not there, fails the build
(an ``ExtensionError``, whatever the warning settings).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

PAGE = "troubleshooting.md"


def documented_classes(text: str) -> list[str]:
    """The class names of the page's entries, in page order."""
    return re.findall(r"^## `?(\w+)`?\s*$", text, flags=re.M)


def error_classes() -> list[str]:
    """The classes ``zarrbridge.errors`` exports."""
    import inspect

    from zarrbridge import errors

    return [name for name in errors.__all__ if inspect.isclass(getattr(errors, name))]


def check(app: Sphinx) -> None:
    entries = documented_classes((Path(app.srcdir) / PAGE).read_text(encoding="utf-8"))
    classes = error_classes()
    duplicated = sorted({name for name in entries if entries.count(name) > 1})
    missing = sorted(set(classes) - set(entries))
    unknown = sorted(set(entries) - set(classes))
    problems = []
    if missing:
        problems.append(f"no entry for {', '.join(missing)}")
    if unknown:
        problems.append(f"entries for classes zarrbridge.errors does not export: {', '.join(unknown)}")
    if duplicated:
        problems.append(f"more than one entry for {', '.join(duplicated)}")
    if problems:
        raise ExtensionError(f"docs/{PAGE}: " + "; ".join(problems) + " (one '## ClassName' section each)")


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
