"""Sphinx configuration: the Markdown guides (MyST) plus an API reference from docstrings."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

project = "MTQuant"
author = "MTQuant developers"
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxcontrib.mermaid",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_fence_as_directive = ["mermaid"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_inherit_docstrings = False  # Lightning/TorchRL base docstrings are not ours to build
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = True
napoleon_numpy_docstring = True
html_theme = "alabaster"
suppress_warnings = ["myst.header", "myst.xref_missing"]
