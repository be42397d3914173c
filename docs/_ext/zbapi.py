"""Sphinx extension: the API reference pages, generated from the package's ``__all__`` lists at each build.

Every public name gets a page section: ``zarrbridge.__all__`` (linked to where each name is documented) and
the ``__all__`` of each subpackage, of the top-level modules, and of the modules ``zarrbridge.__all__``
re-exports from (``zarrbridge.zarrio.nwb``) and the conversion functions behind the CLI
(``zarrbridge.zarrio.convert``). A name that cannot be imported fails the build; numpydoc's validation (see
``numpydoc_validation_checks`` in conf.py) fails it for a name without a docstring or with undocumented
parameters.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

PACKAGE = "zarrbridge"
# modules that are not subpackages but whose public names users call directly
EXTRA_MODULES = ("zarrbridge.zarrio.nwb", "zarrbridge.zarrio.convert")
OUT_DIR = "generated/api"
# base classes that hold part of a documented class's methods (split out to keep modules small): their
# members are documented on the page of each class that inherits them first (ZarrIO's write and export)
MEMBERS_SHOWN_ON_SUBCLASS = ("zarrbridge.zarrio.writing.ZarrIOWriting",)


def api_modules() -> list[str]:
    """The modules whose ``__all__`` the reference documents, in page order."""
    root = importlib.import_module(PACKAGE)
    names: list[str] = []
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{PACKAGE}."):
        top_level = info.name.count(".") == 1
        if not (info.ispkg or top_level) or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        if getattr(module, "__all__", None):
            names.append(info.name)
    names.extend(m for m in EXTRA_MODULES if m not in names)
    return sorted(names)


def _kind(value: Any) -> str:
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if inspect.isfunction(value) or inspect.isbuiltin(value):
        return "function"
    if inspect.ismodule(value):
        return "module"
    return "data"


def _first_line(value: Any) -> str:
    doc = inspect.getdoc(value) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _inherited_option(cls: type) -> list[str]:
    """``:inherited-members:`` naming every base but those of :data:`MEMBERS_SHOWN_ON_SUBCLASS`, for a
    class that inherits from one of them (autodoc then shows the members found before another base)."""
    bases = cls.__mro__[1:]
    if not any(f"{b.__module__}.{b.__qualname__}" in MEMBERS_SHOWN_ON_SUBCLASS for b in bases):
        return []
    hidden = [
        b.__name__ for b in bases if f"{b.__module__}.{b.__qualname__}" not in MEMBERS_SHOWN_ON_SUBCLASS
    ]
    return [f"   :inherited-members: {', '.join(hidden)}"]


def _module_page(module_name: str, module: ModuleType) -> str:
    title = f"``{module_name}``"
    lines = [title, "=" * len(title), "", f".. module:: {module_name}", ""]
    doc = inspect.getdoc(module)
    if doc:
        lines += [f".. automodule:: {module_name}", "   :no-members:", "   :no-index:", ""]
    for name in module.__all__:
        value = getattr(module, name)  # an AttributeError here fails the build: a name in __all__ is gone
        kind = _kind(value)
        if kind == "module":
            lines += [f"* :mod:`{value.__name__}`", ""]
            continue
        directive = {"class": "autoclass", "exception": "autoexception", "function": "autofunction"}.get(
            kind, "autodata"
        )
        lines += [f".. {directive}:: {module_name}.{name}"]
        if kind in ("class", "exception"):
            lines += ["   :members:", "   :show-inheritance:", *_inherited_option(value)]
        lines += [""]
    return "\n".join(lines)


def _top_page(modules: list[str]) -> str:
    root = importlib.import_module(PACKAGE)
    lines = ["``zarrbridge``", "==============", "", f".. module:: {PACKAGE}", ""]
    lines += [f".. automodule:: {PACKAGE}", "   :no-members:", "   :no-index:", ""]
    lines += ["The names ``import zarrbridge`` exports, and where each is documented:", ""]
    lines += [".. list-table::", "   :header-rows: 1", "", "   * - name", "     - documented at", ""]
    for name in root.__all__:
        value = getattr(root, name)
        if name == "__version__":
            target = ":data:`zarrbridge.__version__`"
        elif inspect.ismodule(value):
            target = f":mod:`{value.__name__}`"
        else:
            home = next(
                (m for m in modules if name in getattr(importlib.import_module(m), "__all__", ())), None
            )
            if home is None:
                raise ExtensionError(
                    f"zarrbridge.{name} is in zarrbridge.__all__ but in no documented module"
                )
            target = f":obj:`{home}.{name}`"
        lines += [f"   * - ``{name}``", f"     - {target}"]
    lines += ["", ".. data:: __version__", "", "   The installed zarrbridge version (a PEP 440 string).", ""]
    return "\n".join(lines)


def _cli_page() -> str:
    """The ``zarrbridge`` command's help, and each subcommand's, as argparse prints it."""
    import argparse
    import os

    from zarrbridge.cli.main import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal's width: the same page everywhere
    parser = build_parser()
    lines = ["The ``zarrbridge`` command", "==========================", ""]
    lines += ["Installed with the package. The help below is generated from the command itself.", ""]

    def block(title: str, text: str) -> list[str]:
        body = ["   " + line if line else "" for line in text.rstrip().splitlines()]
        return [title, "-" * len(title), "", ".. code-block:: text", "", *body, ""]

    lines += block("zarrbridge --help", parser.format_help())
    for action in parser._actions:  # argparse keeps its subcommands here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines += block(f"zarrbridge {name}", sub.format_help())
    return "\n".join(lines)


def generate(app: Sphinx) -> None:
    """Write ``api/*.rst`` (one page per module) and ``api/index.rst`` into the source folder."""
    out = Path(app.srcdir) / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    modules = api_modules()
    pages = {PACKAGE: _top_page(modules)}
    for module_name in modules:
        pages[module_name] = _module_page(module_name, importlib.import_module(module_name))
    pages["cli"] = _cli_page()
    index = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {name}" for name in pages]
    pages["index"] = "\n".join(index) + "\n"
    for name, text in pages.items():
        path = out / f"{name}.rst"
        if not path.exists() or path.read_text() != text:  # unchanged pages keep their mtime: no rebuild
            path.write_text(text)
    for stale in set(out.glob("*.rst")) - {out / f"{name}.rst" for name in pages}:
        stale.unlink()


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
