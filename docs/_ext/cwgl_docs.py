"""Settings tables generated from the code at build time, so the docs cannot disagree with it.

- ``{cwgl-operator-settings} <dotted class path>``: each ``__init__`` parameter of an operator with
  its default, whether it is a template field, and its ``:param:`` text from the class docstring.
- ``{cwgl-reference-paths}``: ``REFERENCE_PATHS``, grouped by the GLExport collection they start at.
- ``{cwgl-connection-extras}``: the connection's extras, from ``CONNECTION_EXTRAS`` (the one table
  that also builds the UI form and drives the parsing), with their defaults.
- ``{cwgl-xero-extras}``: the Xero connection's extras, from ``XERO_EXTRAS`` likewise.

Each table comes from one small function (``operator_rows``, ``reference_rows``,
``connection_extra_rows``), the only place to change when the code's tables move.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

_PARAM = re.compile(r"^\s*:param (\w+):(.*)$")
_LITERAL = re.compile(r"``(.+?)``")


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def docstring_params(cls: type) -> dict[str, str]:
    """``:param name: text`` entries of a class docstring, continuation lines joined."""
    params: dict[str, str] = {}
    current: str | None = None
    for line in inspect.getdoc(cls).splitlines():
        match = _PARAM.match(line)
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current and line.startswith(" ") and line.strip():
            params[current] += " " + line.strip()
        else:
            current = None
    return params


def operator_rows(path: str) -> list[list[str]]:
    """setting | default | templated | meaning, in the order of the operator's signature."""
    cls = _import(path)
    params = docstring_params(cls)
    templated = set(cls.template_fields)
    rows = []
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind is parameter.VAR_KEYWORD:
            continue
        default = "required" if parameter.default is parameter.empty else f"``{parameter.default!r}``"
        meaning = params.get(name)
        if meaning is None:
            # A parameter described together with others (``likewise ``excluded_invoice_ids``…``).
            owner = next((p for p, text in params.items() if f"``{name}``" in text), None)
            meaning = f"see ``{owner}``" if owner else ""
        rows.append([f"``{name}``", default, "yes" if name in templated else "no", meaning])
    return rows


def reference_rows() -> list[list[str]]:
    """collection | paths, from ``REFERENCE_PATHS`` in the spec's order."""
    from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS

    groups: dict[str, list[str]] = {}
    for path in REFERENCE_PATHS:
        groups.setdefault(path.split("/", 1)[0], []).append(path)
    return [
        [f"``{root}``", str(len(paths)), ", ".join(f"``{p}``" for p in paths)]
        for root, paths in groups.items()
    ]


def connection_extra_rows() -> list[list[str]]:
    """extra | form label | type | default | description: the one table of extras the connection
    form, the hook's parsing and these docs share (``connectwise.settings.CONNECTION_EXTRAS``)."""
    from airflow_provider_cwgl.connectwise.settings import extras_rows

    return [
        [f"``{name}``", label, kind, f"``{default}``" if default and default != "required" else default, text]
        for name, label, kind, default, text in extras_rows()
    ]


def xero_extra_rows() -> list[list[str]]:
    """extra | form label | type | default | description, from ``xero.settings.XERO_EXTRAS``."""
    from airflow_provider_cwgl.xero.settings import XERO_EXTRAS

    def shown(default: Any) -> str:
        return "" if default is None else f"``{default if isinstance(default, str) else f'{default:g}'}``"

    return [[f"``{e.name}``", e.label, e.json_type, shown(e.default), e.description] for e in XERO_EXTRAS]


def _inline(text: str) -> list[nodes.Node]:
    """Plain text with ````literal```` spans, as the docstrings write them."""
    parts = _LITERAL.split(text)
    return [nodes.literal(p, p) if i % 2 else nodes.Text(p) for i, p in enumerate(parts) if p]


def _table(headers: list[str], widths: list[int], rows: list[list[str]]) -> nodes.table:
    table = nodes.table(classes=["cwgl-generated"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    group.extend(nodes.colspec(colwidth=width) for width in widths)

    def row(cells: list[str]) -> nodes.row:
        line = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", *_inline(cell))
            line += entry
        return line

    head = nodes.thead()
    head += row(headers)
    body = nodes.tbody()
    body.extend(row(cells) for cells in rows)
    group += head
    group += body
    return table


class OperatorSettings(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        rows = operator_rows(self.arguments[0])
        return [_table(["setting", "default", "templated", "meaning"], [22, 14, 8, 56], rows)]


class ReferencePaths(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        return [_table(["collection", "paths", "reference paths"], [16, 6, 78], reference_rows())]


class ConnectionExtras(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        return [
            _table(
                ["extra", "form field", "type", "default", "description"],
                [16, 16, 8, 10, 50],
                connection_extra_rows(),
            )
        ]


class XeroExtras(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        return [
            _table(
                ["extra", "form field", "type", "default", "description"],
                [16, 16, 8, 20, 40],
                xero_extra_rows(),
            )
        ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("cwgl-operator-settings", OperatorSettings)
    app.add_directive("cwgl-reference-paths", ReferencePaths)
    app.add_directive("cwgl-connection-extras", ConnectionExtras)
    app.add_directive("cwgl-xero-extras", XeroExtras)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
