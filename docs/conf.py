"""Sphinx configuration: MyST Markdown pages, autodoc of the package, tables generated from code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
# autodoc imports Airflow, which writes a config into its home: keep that inside the build folder.
os.environ.setdefault("AIRFLOW_HOME", str(DOCS / "_build" / "airflow-home"))

import airflow_provider_cwgl  # noqa: E402

project = "airflow-provider-cwgl"
author = "airflow-provider-cwgl contributors"
release = version = airflow_provider_cwgl.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "cwgl_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings up to ### get anchors, so pages can link to a section: [text](page.md#a-heading).
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

# Every internal reference must resolve. Names outside this package (Airflow, httpx, the standard
# library) are not documented here, so only those are let through.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!airflow_provider_cwgl\b).*")]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"airflow-provider-cwgl {release}"
