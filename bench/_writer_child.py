"""One way of turning a GLExport JSON file into XML, in a fresh interpreter (used by writer.py).

Prints ``{"seconds": ..., "cpu_seconds": ..., "peak_mib": ...}``: wall and CPU time of the
conversion (imports excluded: the
modules in ``IMPORTS`` are imported before the clock starts, as a worker has them imported when
the task runs) and the process's peak RSS (VmHWM) read from /proc at the end.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM")


def project(source: str, target: str) -> None:
    from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter

    with open(source, "rb") as src, open(target, "wb") as out:
        GLExportXmlWriter().write(src, out)


def project_with_summary(source: str, target: str) -> None:
    """The operator's real write step: the writer with the summary, the review and the documents
    file built on the way, and the file beside the XML written."""
    from airflow_provider_cwgl.glexport.exporter import write_export
    from airflow_provider_cwgl.output.local import LocalOutput

    with open(source, "rb") as src:
        write_export(src, LocalOutput(target))


def json_loads(source: str, target: str) -> None:
    """The whole file decoded at once by the standard library's C decoder, numbers as exact
    decimals: the floor of any writer that decodes every value exactly."""
    from decimal import Decimal

    with open(source, "rb") as src:
        raw = src.read()
    json.loads(raw, parse_float=Decimal)


def ijson_parse(source: str, target: str) -> None:
    import ijson

    with open(source, "rb") as src:
        for _ in ijson.parse(src, use_float=False):
            pass


def lxml_in_memory(source: str, target: str) -> None:
    """The whole document as an lxml tree, then serialised: fast C, but everything in memory."""
    import re

    import orjson
    from lxml import etree

    invalid = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

    from airflow_provider_cwgl.glexport.schema import item_name

    def fill(element: Any, value: Any) -> None:
        for key, child in value.items():
            if key == "_info":
                continue
            add(element, key, child)

    def add(parent: Any, key: str, value: Any) -> None:
        if isinstance(value, dict):
            fill(etree.SubElement(parent, key), value)
        elif isinstance(value, list):
            wrapper = etree.SubElement(parent, key)
            for item in value:
                add(wrapper, item_name(key), item)
        else:
            node = etree.SubElement(parent, key)
            if value is None:
                node.set("{http://www.w3.org/2001/XMLSchema-instance}nil", "true")
            elif value is True or value is False:
                node.text = "true" if value else "false"
            else:
                node.text = invalid.sub("", str(value))

    with open(source, "rb") as src:
        document = orjson.loads(src.read())
    root = etree.Element("GLExport", nsmap={"xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    fill(root, {k: v for k, v in document.items() if v})
    del document
    etree.indent(root, space="  ")
    with open(target, "wb") as out:
        out.write(etree.tostring(root, encoding="utf-8", xml_declaration=True))


def xmltodict_unparse(source: str, target: str) -> None:
    """What a user would write first: load everything, let xmltodict do the XML."""
    import xmltodict

    with open(source, "rb") as src:
        document = json.load(src)
    with open(target, "w", encoding="utf-8") as out:
        xmltodict.unparse({"GLExport": document}, output=out, pretty=True, indent="  ")


VARIANTS = {
    "json.loads": json_loads,
    "project": project,
    "project+summary": project_with_summary,
    "ijson.parse": ijson_parse,
    "lxml": lxml_in_memory,
    "xmltodict": xmltodict_unparse,
}


# Imported before timing. With PYTHONDONTWRITEBYTECODE every import compiles its source: about a
# second for the exporter's modules, which would be counted against the write step otherwise.
IMPORTS = {
    "project": ["airflow_provider_cwgl.glexport.xml_writer"],
    "project+summary": ["airflow_provider_cwgl.glexport.exporter", "airflow_provider_cwgl.output.local"],
    "ijson.parse": ["ijson"],
    "lxml": ["orjson", "lxml.etree", "airflow_provider_cwgl.glexport.schema"],
    "xmltodict": ["xmltodict"],
}


def main() -> None:
    variant, source, target = sys.argv[1:4]
    for module in IMPORTS.get(variant, ()):
        importlib.import_module(module)
    started, cpu = time.perf_counter(), time.process_time()
    VARIANTS[variant](source, target)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak_mib()}))


if __name__ == "__main__":
    main()
