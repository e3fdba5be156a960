"""A small Xero client for the sandbox Xero's tests: every exchange it makes is checked by the
referee (Xero's OpenAPI description, tests/xero_referee.py), unless a test sends something invalid
on purpose."""

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

    def __init__(self, sandbox: XeroSandbox, referee: Any | None, tenant_id: str | None = None) -> None:
        self.sandbox = sandbox
        hooks = {"response": [self._check]} if referee is not None else {}
        self.referee = referee
        self.client = httpx.Client(
            base_url=sandbox.api_url + "/",
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
