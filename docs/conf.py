"""Sphinx configuration: MyST pages, sphinx-gallery tutorials executed at build time, numpydoc API pages."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import zarrbridge  # noqa: E402

project = "zarrbridge"
author = "zarrbridge developers"
copyright = "zarrbridge developers"  # noqa: A001
release = version = zarrbridge.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "zbapi",
    "zbtrouble",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**/README.md", "tutorials/*.py", "migration/*.py"]
html_theme = "furo"
html_title = f"zarrbridge {release}"
myst_heading_anchors = 3
nitpicky = False

# --- API reference: autodoc + numpydoc -------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"undoc-members": True, "exclude-members": "__init__, __new__"}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# These checks turn into warnings, and -W makes warnings errors: a public name without a docstring (GL08),
# a parameter missing from its docstring (PR01) or documented but not in the signature (PR02), a function
# that returns something without a Returns section (RT01).
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "RT01"}
numpydoc_validation_exclude = {
    r"\.__\w+__$",  # dunder methods (__getitem__, __enter__...) are described by their class
    # type aliases cannot carry a docstring; their page shows the ``#:`` comment above them instead
    r"^zarrbridge\.core\.AccessMode$",
}

# --- tutorials and migration guides: sphinx-gallery, each script executed at build time ------------------
sphinx_gallery_conf = {
    "examples_dirs": ["tutorials", "migration"],
    "gallery_dirs": ["generated/tutorials", "generated/migration"],
    "filename_pattern": r".*\.py$",  # execute every script, not only plot_*.py
    "abort_on_example_error": True,  # a tutorial that raises stops the build
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "plot_gallery": "True",
    "reset_modules": ("matplotlib",),
    "write_computation_times": False,  # those pages load scripts from a CDN; the build stays offline
}
