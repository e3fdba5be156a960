"""A small Xero client for the tests (fixtures ``xero_api`` and ``xero``): every exchange it makes
is checked by the referee (Xero's OpenAPI description, tests/xero_referee.py), unless a test sends
something invalid on purpose."""

from __future__ import annotations

from typing import Any

import httpx

from airflow_provider_cwgl.sandbox.xero import XeroSandbox


def token(sandbox: XeroSandbox) -> str:
    creds = sandbox.credentials
    answer = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["access_token"]
    return value


class XeroApi:
    """The accounting API of one sandbox tenant, with a fresh token."""

    def __init__(
        self,
        sandbox: XeroSandbox,
        referee: Any | None,
        tenant_id: str | None = None,
        api_url: str | None = None,
    ) -> None:
        self.sandbox = sandbox
        hooks = {"response": [self._check]} if referee is not None else {}
        self.referee = referee
        self.client = httpx.Client(
            base_url=(api_url or sandbox.api_url) + "/",
            headers={
                "Authorization": f"Bearer {token(sandbox)}",
                "Accept": "application/json",
                "xero-tenant-id": tenant_id or sandbox.store.tenant_id,
            },
            event_hooks=hooks,
            timeout=10,
        )

    def _check(self, response: httpx.Response) -> None:
        response.read()
        self.referee.check(response.request, response)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def write(
        self,
        collection: str,
        elements: list[dict[str, Any]],
        *,
        method: str = "PUT",
        summarize: bool = False,
        key: str | None = None,
        path: str | None = None,
    ) -> httpx.Response:
        """PUT (or POST) ``{"<collection>": elements}``; ``summarizeErrors=false`` unless ``summarize``."""
        params = {} if summarize else {"summarizeErrors": "false"}
        headers = {"Idempotency-Key": key} if key else {}
        body = {collection: elements}
        return self.client.request(method, path or collection, params=params, json=body, headers=headers)

    def created(self, collection: str, elements: list[dict[str, Any]], **kwargs: Any) -> list[dict[str, Any]]:
        """Write; every element must be accepted. Returns the stored elements."""
        answer = self.write(collection, elements, **kwargs)
        assert answer.status_code == 200, answer.text
        results: list[dict[str, Any]] = answer.json()[collection]
        assert [r.get("ValidationErrors", []) for r in results] == [[]] * len(results)
        return results


def invoice(number: str | None = "INV-100", kind: str = "ACCREC", **fields: Any) -> dict[str, Any]:
    """An invoice the sandbox accepts: one 100.00 line to Sales with no tax, for contact Acme."""
    line = {
        "Description": "Managed services",
        "Quantity": 1,
        "UnitAmount": 100,
        "AccountCode": "200",
        "TaxType": "NONE",
    }
    document: dict[str, Any] = {"Type": kind, "Contact": {"Name": "Acme Ltd", "ContactNumber": "ACME"}}
    document |= {"Date": "2026-03-02", "DueDate": "2026-04-01", "Status": "AUTHORISED", "LineItems": [line]}
    document |= {"InvoiceNumber": number} if number else {}
    return document | fields


def loader_session(xero: XeroApi) -> None:
    """A loader's whole conversation, with refusals: every kind of answer the sandbox gives."""
    httpx.get(f"{xero.sandbox.url}/connections", headers=xero.client.headers)
    xero.get("Accounts")
    xero.get("TaxRates")
    (contact,) = xero.created("Contacts", [{"Name": "Acme Ltd", "ContactNumber": "ACME"}])
    xero.write("Contacts", [{"Name": "Acme Ltd"}])  # a duplicate name: refused in the answer
    xero.write("Contacts", [{"Name": "Acme Ltd", "EmailAddress": "ap@acme.example"}], method="POST")
    xero.get("Contacts", where='ContactNumber=="ACME"')
    xero.get(f"Contacts/{contact['ContactID']}")
    sale = invoice("INV-1", Reference="SO-1", CurrencyCode="USD", LineAmountTypes="Exclusive")
    sale["LineItems"][0] |= {"TaxType": "OUTPUT", "Tracking": []}
    bill = invoice("V-88", kind="ACCPAY", Reference="PO-88", LineAmountTypes="Inclusive")
    xero.write("Invoices", [sale, bill, invoice("INV-1")], key="file:batch-1")
    xero.write("Invoices", [sale, bill, invoice("INV-1")], key="file:batch-1")  # replayed
    xero.write("Invoices", [invoice("INV-1")], summarize=True)  # 400 ApiException
    xero.get("Invoices", where='Type=="ACCREC" AND InvoiceNumber=="INV-1"', page=1)
    xero.get("Invoices", InvoiceNumbers="INV-1,INV-2", ContactIDs=contact["ContactID"], Statuses="AUTHORISED")
    xero.get(
        "Invoices", where='Contact.ContactID==Guid("' + contact["ContactID"] + '") && Reference=="PO-88"'
    )
    note = {"Type": "ACCRECCREDIT", "Contact": {"ContactID": contact["ContactID"]}, "Status": "AUTHORISED"}
    note |= {"CreditNoteNumber": "CM-9", "Date": "2026-03-02", "LineAmountTypes": "NoTax"}
    note |= {"LineItems": [{"Description": "Credit", "Quantity": 1, "UnitAmount": 25, "AccountCode": "200"}]}
    (credit,) = xero.created("CreditNotes", [note])
    xero.write("CreditNotes", [note])  # a duplicate number
    xero.get(f"CreditNotes/{credit['CreditNoteID']}")
    xero.get("CreditNotes", where='CreditNoteNumber=="CM-9"')
    lines = [{"LineAmount": 80, "AccountCode": "630", "Description": "Stock"}]
    lines += [{"LineAmount": -80, "AccountCode": "310", "Description": "Stock", "TaxType": "NONE"}]
    journal = {
        "Narration": "Inventory transfer",
        "Date": "2026-03-02",
        "Status": "POSTED",
        "JournalLines": lines,
    }
    (posted,) = xero.created("ManualJournals", [journal])
    xero.write("ManualJournals", [journal | {"JournalLines": lines[:1]}])  # unbalanced
    xero.write("ManualJournals", [journal | {"JournalLines": lines[:1]}], summarize=True)
    xero.get(f"ManualJournals/{posted['ManualJournalID']}")
    xero.get("ManualJournals", page=1)
    xero.client.post(
        f"Invoices/{xero.sandbox.store.invoices[0]['InvoiceID']}", json={"Invoices": [{"Reference": "SO-1b"}]}
    )
