"""Sphinx configuration for the SpikeLab docs (built by ``nox -s docs`` with -W)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "SpikeLab"
author = "SpikeLab developers"
copyright = "2026, SpikeLab developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "spikelab_docs",
]

autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
nitpicky = False
# No suppress_warnings: an API entry that fails to import is a warning, and -W makes it an error,
# so the reference can never silently render empty.
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []  # figures are referenced by relative path
intersphinx_mapping: dict[str, tuple[str, None]] = {}
