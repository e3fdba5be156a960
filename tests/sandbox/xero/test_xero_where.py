"""The sandbox Xero's ``where`` filter, on records shaped as Xero answers them."""

from __future__ import annotations

import pytest

from airflow_provider_cwgl.errors import XeroQueryError
from airflow_provider_cwgl.sandbox.xero.where import parse

RECORD = {
    "Type": "ACCREC",
    "InvoiceNumber": "INV-0042",
    "Contact": {"ContactID": "1c2e0c9b-3a44-4b8e-9d0e-5f6a7b8c9d0e", "Name": "Acme Ltd"},
    "Total": 115.5,
    "Date": "/Date(1772409600000+0000)/",  # 2026-03-02
    "HasAttachments": False,
    "Reference": None,
}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('InvoiceNumber=="INV-0042"', True),
        ('InvoiceNumber=="inv-0042"', True),  # text compares without regard to case
        ('InvoiceNumber!="INV-0042"', False),
        ('Contact.ContactID==Guid("1C2E0C9B-3A44-4B8E-9D0E-5F6A7B8C9D0E")', True),
        ('Type=="ACCREC" AND Contact.Name=="Acme Ltd"', True),
        ('Type=="ACCPAY" AND Contact.Name=="Acme Ltd"', False),
        ('Type=="ACCPAY" OR Contact.Name=="Acme Ltd"', True),
        ('Type=="ACCREC" && (InvoiceNumber=="X" || InvoiceNumber=="INV-0042")', True),
        ('Type=="ACCPAY" AND InvoiceNumber=="X" OR Total>100', True),  # AND binds tighter
        ("Total>=115.5 AND Total<116", True),
        ("Date>=DateTime(2026, 03, 02) AND Date<DateTime(2026, 03, 03)", True),
        ("Date<DateTime(2026, 03, 02)", False),
        ("HasAttachments==false", True),
        ("Reference==null", True),
        ('NOT (Type=="ACCPAY")', True),
        ('InvoiceNumber.StartsWith("INV")', True),
        ('Contact.Name.Contains("ACME")', True),
        ('InvoiceNumber.EndsWith("41")', False),
        ('Missing.Field=="x"', False),
    ],
)
def test_where_selects_as_xero_does(where: str, expected: bool) -> None:
    assert parse(where)(RECORD) is expected


@pytest.mark.parametrize(
    "where",
    [
        'InvoiceNumber=="open',
        "InvoiceNumber==",
        'InvoiceNumber "x"',
        '("a"=="b"',
        "Total > 1 AND",
        "Date>=DateTime(2026)",
        "Total=>1",
    ],
)
def test_what_xero_cannot_read_is_refused(where: str) -> None:
    with pytest.raises(XeroQueryError):
        parse(where)
