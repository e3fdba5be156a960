"""Settings validation: every bad value gets an error naming the setting and what it accepts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest
from conftest import FIXTURES

from airflow_provider_cwgl.errors import ExportSettingError
from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS
from airflow_provider_cwgl.glexport.request import (
    ID_LIST_SETTINGS,
    build_export_request,
)


def test_defaults_follow_the_spec() -> None:
    request = build_export_request()
    assert (request.export_invoices, request.export_expenses, request.export_procurement) == (
        True,
        False,
        False,
    )
    assert request.body(None) == {
        "exportInvoicesFlag": True,
        "exportExpensesFlag": False,
        "exportProductsFlag": False,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("True", True),
        ("false", False),
        ("1", True),
        (0, False),
        (" yes ", True),
        ("OFF", False),
    ],
)
def test_boolean_forms(value: object, expected: bool) -> None:
    assert build_export_request(export_unposted_expenses=value).export_expenses is expected


@pytest.mark.parametrize("value", ["maybe", 2, None, [], "Tru"])
def test_bad_boolean(value: object) -> None:
    with pytest.raises(
        ExportSettingError, match=r"export_unposted_procurement: expected a boolean \(True or False\)"
    ):
        build_export_request(export_unposted_procurement=value)


def test_at_least_one_flag() -> None:
    with pytest.raises(ExportSettingError, match="at least one must be True"):
        build_export_request(export_unposted_invoices="False")


@pytest.mark.parametrize(
    ("value", "expected"),
    # 0 is "all locations", as other ConnectWise integrations send it: read as empty.
    [(12, 12), ("12", 12), (" 7 ", 7), (None, None), ("", None), ("None", None), (0, None), (" 0 ", None)],
)
def test_location_id_forms(value: object, expected: int | None) -> None:
    assert build_export_request(location_id=value).location_id == expected


@pytest.mark.parametrize("value", [-3, "-0", "abc", 1.5, True, "12.0", 2**31])
def test_bad_location_id(value: object) -> None:
    with pytest.raises(ExportSettingError, match="location_id: expected a positive integer"):
        build_export_request(location_id=value)


def test_location_name() -> None:
    assert build_export_request(location_name="  Tampa Office ").location_name == "Tampa Office"
    with pytest.raises(ExportSettingError, match="location_name"):
        build_export_request(location_name=5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 3, 1), "2026-03-01T00:00:00Z"),
        ("2026-03-01", "2026-03-01T00:00:00Z"),
        ("2026-03-01T18:30:00", "2026-03-01T18:30:00Z"),
        ("2026-03-01T18:30:00+02:00", "2026-03-01T16:30:00Z"),
        ("2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        (datetime(2026, 3, 1, 5, tzinfo=timezone(timedelta(hours=-5))), "2026-03-01T10:00:00Z"),
        (datetime(2026, 3, 1, 5), "2026-03-01T05:00:00Z"),
        (pendulum.datetime(2026, 3, 1, tz="Europe/London"), "2026-03-01T00:00:00Z"),
    ],
)
def test_thru_date_forms(value: object, expected: str) -> None:
    assert build_export_request(thru_date=value).body(None)["thruDate"] == expected


@pytest.mark.parametrize("value", [None, "", "None"])
def test_no_thru_date_sends_none(value: object) -> None:
    assert "thruDate" not in build_export_request(thru_date=value).body(None)


@pytest.mark.parametrize("value", ["03/01/2026", "yesterday", 20260301, "2026-02-30"])
def test_bad_thru_date(value: object) -> None:
    with pytest.raises(ExportSettingError, match="thru_date: expected"):
        build_export_request(thru_date=value)


@pytest.mark.parametrize(
    "value",
    [
        ["customer/company", "transaction/invoice"],
        "['customer/company', 'transaction/invoice']",
        '["customer/company", "transaction/invoice"]',
        "customer/company, transaction/invoice",
        ("customer/company", "transaction/invoice", "customer/company"),
    ],
)
def test_reference_forms(value: object) -> None:
    assert build_export_request(references_to_fetch=value).references == (
        "customer/company",
        "transaction/invoice",
    )


def test_unknown_reference_suggests_the_closest() -> None:
    with pytest.raises(ExportSettingError) as info:
        build_export_request(references_to_fetch=["customer/compnay"])
    assert "references_to_fetch" in str(info.value) and "did you mean 'customer/company'" in str(info.value)


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, "[unclosed", 5])
def test_bad_reference_values(value: object) -> None:
    with pytest.raises(ExportSettingError, match="references_to_fetch"):
        build_export_request(references_to_fetch=value)


def test_reference_paths_constant_is_the_spec_list() -> None:
    spec = FIXTURES / "reference_paths.txt"  # transcribed from the spec
    assert list(REFERENCE_PATHS) == spec.read_text().split()
    assert len(set(REFERENCE_PATHS)) == len(REFERENCE_PATHS)


# -- The rest of ExportAccountingBatchRequest -----------------------------------------------------


def test_options_default_to_nothing_sent() -> None:
    assert build_export_request().options.body() == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([5, 6], [5, 6]),
        ((5, "6"), [5, 6]),
        ("[5, 6]", [5, 6]),
        ("(5, 6)", [5, 6]),
        ("5, 6", [5, 6]),
        ("5\n6\n", [5, 6]),
        (" 7 ", [7]),
        (7, [7]),
        ("[5, 5, 6]", [5, 6]),
        ([], None),
        ("", None),
        ("None", None),
        (None, None),
    ],
)
def test_integer_id_list_forms(value: object, expected: list[int] | None) -> None:
    assert (
        build_export_request(excluded_invoice_ids=value).options.body().get("excludedInvoiceIds") == expected
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(["PO-1", 1299], ["PO-1", "1299"]), ("PO-1, PO-2", ["PO-1", "PO-2"]), ('["a b"]', ["a b"])],
)
def test_product_ids_are_strings(value: object, expected: list[str]) -> None:
    assert build_export_request(included_product_ids=value).options.body() == {"includedProductIds": expected}


@pytest.mark.parametrize("value", [[-1], [0], ["x"], [1.5], [True], "[1, 2", {"a": 1}, [2**31]])
def test_bad_integer_ids(value: object) -> None:
    with pytest.raises(ExportSettingError, match=r"^included_expense_ids: "):
        build_export_request(included_expense_ids=value)


@pytest.mark.parametrize(
    ("value", "expected"), [("Condensed", "Condensed"), (" detailed ", "Detailed"), ("", None)]
)
def test_summarize_invoices(value: str, expected: str | None) -> None:
    assert build_export_request(summarize_invoices=value).options.summarize_invoices == expected


@pytest.mark.parametrize("value", ["Sometimes", 1, "Summary"])
def test_bad_summarize_invoices_lists_the_choices(value: object) -> None:
    with pytest.raises(
        ExportSettingError,
        match=r"^summarize_invoices: expected one of 'Default', 'Condensed', 'Detailed', got",
    ):
        build_export_request(summarize_invoices=value)


def test_an_id_both_included_and_excluded_is_an_error() -> None:
    with pytest.raises(ExportSettingError, match=r"included_expense_ids/excluded_expense_ids: 3 both"):
        build_export_request(included_expense_ids="1,2,3", excluded_expense_ids=[3, 4])
    # The same number in different kinds is fine.
    body = build_export_request(included_invoice_ids=[3], excluded_expense_ids=[3]).options.body()
    assert body == {"includedInvoiceIds": [3], "excludedExpenseIds": [3]}


def test_options_follow_the_base_request_into_the_body() -> None:
    request = build_export_request(
        location_id=4, gl_interface_identifier=" GL-IF-1 ", included_invoice_ids=[9]
    )
    assert request.body(4) == {
        "exportInvoicesFlag": True,
        "exportExpensesFlag": False,
        "exportProductsFlag": False,
        "locationId": 4,
        "glInterfaceIdentifier": "GL-IF-1",
        "includedInvoiceIds": [9],
    }


def test_export_payments_stays_out() -> None:
    """GLExport has no payments collection, so the payments part of the request is not offered."""
    with pytest.raises(TypeError, match="unknown export setting"):
        build_export_request(included_payment_ids=[1])
    assert all("Payment" not in spec.api_name for spec in ID_LIST_SETTINGS)


@pytest.mark.parametrize("setting", ["references_to_fetch", "included_invoice_ids"])
def test_list_settings_share_one_parser_that_survives_deep_nesting(setting: str) -> None:
    text = "[" * 100_000
    with pytest.raises(ExportSettingError) as info:
        build_export_request(**{setting: text})
    assert str(info.value).startswith(f"{setting}: cannot read '[[[")
    assert len(str(info.value)) < 250
