"""Each GLExport XML format rule, on small hand-made ConnectWise JSON documents."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal

import pytest
from conftest import write_xml
from lxml import etree

from airflow_provider_cwgl.errors import CwglError, ElementNameError, ExportBodyError, Retry
from airflow_provider_cwgl.glexport.xml_writer import XSI, GLExportXmlWriter, format_number


def root_of(data: bytes) -> etree._Element:
    return etree.fromstring(data)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("10", "10"),
        ("10.0", "10"),
        ("0.20", "0.2"),
        ("-12.50", "-12.5"),
        ("1E+3", "1000"),
        ("1.5e-7", "0.00000015"),
        ("-0.0", "0"),
        ("-0.00", "0"),
        ("0.000", "0"),
        ("100.00", "100"),
        ("0.000001", "0.000001"),
        ("0.0000001", "0.0000001"),
        ("-1.50E+3", "-1500"),
        ("-0E+3", "0"),
        ("123456789012.345678", "123456789012.345678"),
    ],
)
def test_numbers_are_plain_decimals(number: str, text: str) -> None:
    data, _ = write_xml('{"transactions":[{"id":1,"total":' + number + "}]}")
    assert root_of(data).findtext("transactions/transaction/total") == text
    assert format_number(Decimal(number)) == text


def test_declaration_namespaces_and_indent() -> None:
    data, _ = write_xml({"customers": [{"company": {"id": 8, "identifier": "A"}}]})
    lines = data.decode().splitlines()
    assert lines[0] == '<?xml version="1.0" encoding="utf-8"?>'
    assert lines[1] == (
        '<GLExport xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    )
    assert lines[2:6] == ["  <customers>", "    <customer>", "      <company>", "        <id>8</id>"]
    assert data.count(b"xmlns:xsi") == 1


def test_nulls_follow_the_schema_type() -> None:
    doc = {
        "transactions": [
            {
                "id": None,
                "memo": None,
                "glClass": "",
                "total": None,
                "taxable": None,
                "company": None,
                "brandNewField": None,
            }
        ]
    }
    txn = root_of(write_xml(doc)[0]).find("transactions/transaction")
    nil = f"{{{XSI}}}nil"
    assert txn.find("id").get(nil) == "true"  # nullable int
    assert txn.find("memo").get(nil) is None and txn.findtext("memo") == ""  # string
    assert txn.find("glClass").get(nil) is None and txn.findtext("glClass") == ""
    assert txn.find("total").get(nil) == "true"
    assert txn.find("taxable").get(nil) == "true"
    assert txn.find("company").get(nil) == "true"
    assert txn.find("brandNewField").get(nil) == "true"  # unknown to the schema


def test_booleans_and_info_and_unknown_fields_keep_order() -> None:
    doc = {
        "transactions": [
            {
                "zeta": 1,
                "taxable": True,
                "company": {"id": 8, "_info": {"company_href": "x"}},
                "emailDeliveryFlag": False,
                "alpha": "a",
            }
        ]
    }
    txn = root_of(write_xml(doc)[0]).find("transactions/transaction")
    assert [c.tag for c in txn] == ["zeta", "taxable", "company", "emailDeliveryFlag", "alpha"]
    assert txn.findtext("taxable") == "true" and txn.findtext("emailDeliveryFlag") == "false"
    assert [c.tag for c in txn.find("company")] == ["id"]


def test_collections_are_plural_with_singular_items() -> None:
    doc = {
        "exportSettings": {},
        "vendors": [],
        "transactions": [{"id": 1, "detail": [{"id": 2, "taxLevels": [{"taxLevel": 1}]}], "taxLevels": []}],
        "purchaseTransactions": [{"id": "PO", "purchaseDetail": [{"id": 3}], "purchaseDetailTax": []}],
        "expenseBills": [{"id": 4, "detail": [{"id": [10, 11], "total": 5}]}],
        "adjustmentTransactions": [{"id": "A", "adjustmentDetail": [{"memo": "m"}]}],
        "inventoryTransfers": [{"id": "T"}],
        "expenses": None,
    }
    root = root_of(write_xml(doc)[0])
    assert [c.tag for c in root] == [
        "transactions",
        "purchaseTransactions",
        "expenseBills",
        "adjustmentTransactions",
        "inventoryTransfers",
    ]
    assert root.find("transactions/transaction/detail/detailItem/taxLevels/taxLevel/taxLevel").text == "1"
    empty = root.find("transactions/transaction/taxLevels")
    assert empty is not None and len(empty) == 0
    assert (
        root.find("purchaseTransactions/purchaseTransaction/purchaseDetail/purchaseDetailItem/id").text == "3"
    )
    assert len(root.find("purchaseTransactions/purchaseTransaction/purchaseDetailTax")) == 0
    assert [e.text for e in root.findall("expenseBills/expenseBill/detail/detailItem/id")] == ["10", "11"]
    assert (
        root.find("adjustmentTransactions/adjustmentTransaction/adjustmentDetail/adjustmentDetailItem")
        is not None
    )


def test_non_empty_export_settings_are_kept() -> None:
    root = root_of(write_xml({"exportSettings": {"summarizeExpenses": True}, "customers": []})[0])
    assert root.findtext("exportSettings/summarizeExpenses") == "true"


def test_text_is_escaped_and_invalid_characters_removed() -> None:
    memo = 'A & B <c> "q" \u00e9\u4e2d\U0001f600 \x0b\x07\x00 end'
    data, writer = write_xml({"transactions": [{"memo": memo}]})
    assert (
        root_of(data).findtext("transactions/transaction/memo") == 'A & B <c> "q" \u00e9\u4e2d\U0001f600  end'
    )
    assert writer.stats.removed_characters == 3


@pytest.mark.parametrize(
    ("memo", "written", "removed"),
    [
        ("plain words", "plain words", 0),
        ("only >", "only &gt;", 0),
        ("a\tb\nc", "a\tb\nc", 0),  # not printable to Python, kept by XML
        ("x\u00a0y\ue000z", "x\u00a0y\ue000z", 0),  # a no-break space, a private-use character
        ("r\rs", "r&#13;s", 0),
        ("\ufffeq\uffff", "q", 2),
    ],
)
def test_each_kind_of_text_is_written_as_lxml_writes_it(memo: str, written: str, removed: int) -> None:
    data, writer = write_xml({"transactions": [{"memo": memo}]})
    assert f"<memo>{written}</memo>".encode() in data
    assert writer.stats.removed_characters == removed


def test_repeated_text_is_written_and_counted_each_time() -> None:
    # The writer keeps the element of text it has written; a repeat must come out the same, and
    # a removed character must be counted at every occurrence.
    items = [{"memo": "A & B", "description": "x\x00y"} for _ in range(3)]
    data, writer = write_xml({"transactions": items})
    assert data.count(b"<memo>A &amp; B</memo>") == 3
    assert data.count(b"<description>xy</description>") == 3
    assert writer.stats.removed_characters == 3


def test_equal_numbers_repeated_in_a_field_are_written_alike() -> None:
    # The writer keeps the element of a number it has written; equal decimals share it.
    totals = ["1.0", "1.00", "1E+0", "-0.0", "0.000", "2.50", "2.5"]
    body = '{"transactions":[' + ",".join('{"total":' + t + "}" for t in totals) + "]}"
    data, _ = write_xml(body)
    written = [t.text for t in root_of(data).iter("total")]
    assert written == ["1", "1", "1", "0", "0", "2.5", "2.5"]


def test_root_items_are_counted_and_reported() -> None:
    seen = []
    out = io.BytesIO()
    writer = GLExportXmlWriter(on_item=lambda c, item: seen.append((c, item["id"])))
    writer.write(io.BytesIO(b'{"transactions":[{"id":1},{"id":2}],"expenses":[{"id":3}]}'), out)
    assert seen == [("transactions", 1), ("transactions", 2), ("expenses", 3)]
    assert writer.stats.items == 3


@pytest.mark.parametrize("broken", ['{"transactions":[{"id":1}', '{"transactions":[{"id":1}]'])
def test_truncated_documents_raise(broken: str) -> None:
    # A cut body is a JSONDecodeError: the client fetches it again (ExportBodyError it would not).
    with pytest.raises(json.JSONDecodeError, match="^Expecting ',' delimiter"):
        write_xml(broken)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ExportBodyError, match="^GLExport JSON: the document must be an object, got a list$"):
        write_xml("[1,2]")


def test_bad_element_names_are_refused() -> None:
    with pytest.raises(ElementNameError, match="^'bad name' cannot be an XML element name$") as caught:
        write_xml({"transactions": [{"bad name": 1}]})
    # Data, not a fault: the same records would fail the same way, so a task fails without retries.
    assert isinstance(caught.value, CwglError) and caught.value.retry is Retry.NEVER


def test_long_writes_log_progress(caplog: pytest.LogCaptureFixture) -> None:
    doc = {"transactions": [{"id": i, "memo": "m" * 50} for i in range(2500)]}
    caplog.set_level(logging.INFO, logger="airflow_provider_cwgl.glexport.xml_writer")
    out = io.BytesIO()
    GLExportXmlWriter(progress_seconds=0).write(io.BytesIO(json.dumps(doc).encode()), out)
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Writing GLExport XML")]
    assert [m.split(" items so far")[0] for m in progress] == [
        "Writing GLExport XML: 1000",
        "Writing GLExport XML: 2000",
    ]
    assert "MiB of XML written" in progress[-1]
    assert f"GLExport XML written: 2500 items, {len(out.getvalue()) / 2**20:.1f} MiB" in caplog.text


def test_writer_output_equals_lxml_serialisation_of_the_same_tree() -> None:
    """The text serialiser must write what lxml writes for the tree it describes."""
    doc = {
        "transactions": [
            {
                "id": 1,
                "memo": "a\r\nb & <c> ]]> \"q\" 'a'",
                "empty": "",
                "none": None,
                "obj": {"_info": {"x": 1}},
                "detail": [{"id": 2, "taxLevels": []}, {}],
                "ids": [1, 2],
            }
        ]
    }
    data, _ = write_xml(doc)
    root = etree.fromstring(data)
    etree.indent(root, space="  ")
    expected = b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(root, encoding="utf-8") + b"\n"
    assert data == expected


def test_an_empty_list_of_plain_values_writes_no_element() -> None:
    doc = {
        "expenseBills": [{"id": 4, "detail": [{"id": [], "total": 5}, {"id": [7], "total": 1}]}],
        "transactions": [{"id": 1, "taxLevels": [], "unknownList": []}],
    }
    root = root_of(write_xml(doc)[0])
    first, second = root.findall("expenseBills/expenseBill/detail/detailItem")
    assert [c.tag for c in first] == ["total"]
    assert [c.text for c in second.findall("id")] == ["7"]
    txn = root.find("transactions/transaction")
    # A list of objects, and a field the schema does not know, keep the empty element.
    assert [(c.tag, len(c), c.text) for c in txn[1:]] == [("taxLevels", 0, None), ("unknownList", 0, None)]


def test_a_null_among_plain_values() -> None:
    """Left out where the schema's items are non-nullable numbers (counted), nil where unknown."""
    doc = {
        "expenseBills": [{"id": 4, "detail": [{"id": [1, None, 2, None]}]}],
        "transactions": [{"id": 1, "unknownList": [3, None]}],
    }
    xml, writer = write_xml(doc)
    root = root_of(xml)
    line = root.find("expenseBills/expenseBill/detail/detailItem")
    assert [(c.text, c.get(f"{{{XSI}}}nil")) for c in line.findall("id")] == [("1", None), ("2", None)]
    assert writer.stats.dropped_list_nulls == 2
    unknown = root.findall("transactions/transaction/unknownList")
    assert [(c.text, c.get(f"{{{XSI}}}nil")) for c in unknown] == [("3", None), (None, "true")]
