"""Load an approved GLExport file's documents into Xero, exactly once, in few calls.

Plain Python: a ``XeroClient`` and the mapping settings.
Documents wait per endpoint (invoices and bills, credit notes, manual journals) until
``LOOKUP_SIZE`` (100) of them are ready; then, for those:

1. the contacts not met yet, looked up by ``ContactNumber`` (one ``GET Contacts`` with a ``where``
   of ORs per 100) and the missing ones created (one ``PUT Contacts`` per ``batch_size``);
2. the documents looked up (``GET Invoices?InvoiceNumbers=…``, ``GET CreditNotes`` and
   ``GET ManualJournals`` with a ``where`` on the number or narration, one call per 100): a
   document Xero has is loaded already (a cleared task, a re-run of a posted day, a retry after a
   lost answer), and is not created again;
3. the rest created, one ``PUT`` per ``batch_size`` (50, Xero's advice) with
   ``summarizeErrors=false``: Xero answers each element on its own, so one refused document does
   not hold back the others.

About 3.4 calls per 100 documents (bench/xero_load.py), contacts included. Every write carries an
``Idempotency-Key`` derived from the approved file's SHA-256, the endpoint, and the documents
(collection, id and the body sent): the client's retry of a write whose answer was lost is
answered from Xero's memory of the key instead of creating twice; across days, where Xero's memory
of a key is not documented, the look-up in step 2 is what prevents a duplicate. Plus two reads per
load: ``TaxRates`` (each TaxType's rate) and ``Accounts`` (the system accounts manual journals must
not touch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from typing_extensions import TypedDict

from airflow_provider_cwgl.errors import XeroError
from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS
from airflow_provider_cwgl.glexport.documents import doc_key
from airflow_provider_cwgl.xero.client import XeroClient, encode_json
from airflow_provider_cwgl.xero.mapping import (
    ContactRef,
    MappingSettings,
    Refusal,
    Tenant,
    XeroDocument,
    amount,
    to_xero,
)

BATCH_SIZE = 50
LOOKUP_SIZE = 100  # values per look-up: a where clause of 100 ORs stays well inside a URL
PAGE_SIZE = 200  # asked per page of a look-up, so 100 numbers (and a few namesakes) take one call
GONE_STATUSES = frozenset({"DELETED", "VOIDED"})
_ID_FIELD = {"Invoices": "InvoiceID", "CreditNotes": "CreditNoteID", "ManualJournals": "ManualJournalID"}
_NUMBER_FIELD = {
    "Invoices": "InvoiceNumber",
    "CreditNotes": "CreditNoteNumber",
    "ManualJournals": "Narration",
}


class LoadedDocument(TypedDict):
    """A document Xero holds: ``GLBatchCreateOperator(documents=...)`` reads ``collection``/``id``."""

    collection: str
    id: Any
    xero_id: str
    number: str
    type: str
    created: bool  # False: found in Xero (loaded by an earlier run)


class RefusedDocument(TypedDict):
    collection: str
    id: Any
    reason: str
    messages: list[str]  # Xero's validation messages, when Xero refused it


@dataclass
class LoadResult:
    loaded: list[LoadedDocument] = field(default_factory=list)
    refused: list[RefusedDocument] = field(default_factory=list)


def where_any(name: str, values: Iterable[str]) -> str:
    """``Name=="a" OR Name=="b"``: Xero's filter syntax, quotes and backslashes escaped."""
    return " OR ".join(f'{name}=="{_escaped(v)}"' for v in values)


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def idempotency_key(file_sha256: str, endpoint: str, parts: Iterable[Any]) -> str:
    """At most 128 characters: the file, the endpoint, and a digest of what the write carries."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(encode_json({"p": part}))
    return f"cwgl-{file_sha256[:24]}-{endpoint}-{digest.hexdigest()[:48]}"


class XeroLoader:
    """``load()`` a source of GLExport items into the Xero organisation ``client`` reaches."""

    def __init__(
        self, client: XeroClient, settings: MappingSettings, *, batch_size: int = BATCH_SIZE
    ) -> None:
        self.client = client
        self.settings = settings
        self.batch_size = batch_size
        self._tenant: Tenant | None = None
        self._contacts: dict[str, str] = {}  # ContactNumber -> ContactID
        self._contact_refusals: dict[str, list[str]] = {}  # ContactNumber -> Xero's messages

    def load(
        self,
        items: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        file_sha256: str,
        documents: Iterable[tuple[str, str]] | None = None,
    ) -> LoadResult:
        """Every document of ``items`` (or those of ``documents``, as ``parse_documents`` gives
        them) loaded or refused with a reason; parties are not documents and are skipped."""
        wanted = set(documents) if documents is not None else None
        result = LoadResult()
        pending: dict[str, list[XeroDocument]] = {}
        for collection, item in items:
            if collection in PARTY_COLLECTIONS:
                continue
            if wanted is not None and doc_key(collection, item.get("id")) not in wanted:
                continue
            mapped = to_xero(collection, item, self.settings, self.tenant())
            if isinstance(mapped, Refusal):
                self._refuse(result, mapped.collection, mapped.id, mapped.reason)
                continue
            waiting = pending.setdefault(mapped.endpoint, [])
            waiting.append(mapped)
            if len(waiting) >= LOOKUP_SIZE:
                self._flush(mapped.endpoint, waiting, file_sha256, result)
                waiting.clear()
        for endpoint, waiting in pending.items():
            if waiting:
                self._flush(endpoint, waiting, file_sha256, result)
        return result

    def tenant(self) -> Tenant:
        """The organisation's tax rates and system accounts, read once per loader."""
        if self._tenant is None:
            rates = {
                str(r["TaxType"]): Decimal(str(r["EffectiveRate"]))
                for r in self.client.get("TaxRates").get("TaxRates", [])
                if r.get("TaxType") and r.get("EffectiveRate") is not None
            }
            system = {
                str(a["Code"]): str(a["SystemAccount"])
                for a in self.client.get("Accounts").get("Accounts", [])
                if a.get("Code") and a.get("SystemAccount")
            }
            self._tenant = Tenant(tax_rates=rates, system_accounts=system)
        return self._tenant

    # -- up to LOOKUP_SIZE documents of one endpoint -----------------------------------------
    def _flush(self, endpoint: str, docs: list[XeroDocument], file_sha256: str, result: LoadResult) -> None:
        self._resolve_contacts([d.contact for d in docs if d.contact is not None], file_sha256)
        ready: list[XeroDocument] = []
        for doc in docs:
            if doc.contact is not None and doc.contact.number not in self._contacts:
                messages = self._contact_refusals.get(doc.contact.number, [])
                reason = f"Xero refused its contact {doc.contact.number!r}"
                self._refuse(result, doc.collection, doc.id, reason, messages)
            else:
                ready.append(doc)
        if ready:
            self._write(endpoint, self._found(endpoint, ready, result), file_sha256, result)

    def _resolve_contacts(self, refs: list[ContactRef], file_sha256: str) -> None:
        missing = {r.number: r for r in refs if r.number not in self._contacts}
        for numbers in _chunks(sorted(missing), LOOKUP_SIZE):
            answer = self.client.get(
                "Contacts", {"where": where_any("ContactNumber", numbers), "includeArchived": True}
            )
            for contact in answer.get("Contacts", []):
                number = contact.get("ContactNumber")
                if number in missing and number not in self._contacts:
                    self._contacts[number] = str(contact["ContactID"])
        to_create = [missing[n] for n in sorted(missing) if n not in self._contacts]
        for group in _chunks(to_create, self.batch_size):
            bodies = [{"Name": r.name, "ContactNumber": r.number} for r in group]
            key = idempotency_key(file_sha256, "Contacts", bodies)
            answer = self._put("Contacts", {"Contacts": bodies}, key)
            elements = answer.get("Contacts", [])
            for n, ref in enumerate(group):
                element = elements[n] if n < len(elements) else {}
                errors = _errors(element)
                if element.get("ContactID") and not errors:
                    self._contacts[ref.number] = str(element["ContactID"])
                else:
                    self._contact_refusals[ref.number] = errors or ["no answer for this contact"]

    def _found(self, endpoint: str, docs: list[XeroDocument], result: LoadResult) -> list[XeroDocument]:
        """The documents Xero does not have yet; those it has are loaded (or refused, when Xero's
        differs: another total, or deleted)."""
        existing: dict[tuple[str, str, str], dict[str, Any]] = {}
        contact_numbers = {v: k for k, v in self._contacts.items()}
        for element in self._look_up(endpoint, sorted({d.number for d in docs})):
            kind = str(element.get("Type") or "MANUALJOURNAL")
            contact_id = (element.get("Contact") or {}).get("ContactID")
            per_contact = kind in ("ACCPAY", "ACCPAYCREDIT")
            owner = contact_numbers.get(str(contact_id), "?") if per_contact else ""
            existing.setdefault((kind, owner, str(element.get(_NUMBER_FIELD[endpoint]))), element)
        fresh: list[XeroDocument] = []
        for doc in docs:
            found = existing.get(doc.key)
            if found is None:
                fresh.append(doc)
                continue
            element = found
            status = str(element.get("Status") or "")
            total = amount(element.get("Total"))
            if status in GONE_STATUSES:
                self._refuse(
                    result,
                    doc.collection,
                    doc.id,
                    f"Xero has {doc.type} {doc.number!r} as {status}: it is not created again; restore it in "
                    "Xero, or change the document in ConnectWise",
                )
            elif endpoint != "ManualJournals" and total is not None and total != doc.total:
                self._refuse(
                    result,
                    doc.collection,
                    doc.id,
                    f"Xero already has {doc.type} {doc.number!r} with total {total}; ConnectWise's is {doc.total}",
                )
            else:
                self._loaded(result, doc, element, created=False)
        return fresh

    def _look_up(self, endpoint: str, numbers: list[str]) -> Iterator[dict[str, Any]]:
        for group in _chunks(numbers, LOOKUP_SIZE):
            if endpoint == "Invoices":
                params: dict[str, Any] = {"InvoiceNumbers": group}
            else:
                params = {"where": where_any(_NUMBER_FIELD[endpoint], group)}
            page = 1
            while True:
                rows = self.client.get(endpoint, {**params, "page": page, "pageSize": PAGE_SIZE}).get(
                    endpoint, []
                )
                yield from rows
                if len(rows) < PAGE_SIZE:
                    break
                page += 1

    def _write(self, endpoint: str, docs: list[XeroDocument], file_sha256: str, result: LoadResult) -> None:
        for group in _chunks(docs, self.batch_size):
            bodies = [self._body(d) for d in group]
            key = idempotency_key(
                file_sha256, endpoint, [(d.collection, d.id, b) for d, b in zip(group, bodies, strict=True)]
            )
            try:
                answer = self._put(endpoint, {endpoint: bodies}, key)
            except XeroError as exc:
                if exc.status != 400:
                    raise
                # Xero refused the request as a whole: every document of it stays unposted.
                for doc in group:
                    self._refuse(result, doc.collection, doc.id, str(exc), exc.validation_errors)
                continue
            elements = answer.get(endpoint, [])
            for n, doc in enumerate(group):
                element = elements[n] if n < len(elements) else {}
                errors = _errors(element)
                total = amount(element.get("Total"))
                if errors or not element.get(_ID_FIELD[endpoint]):
                    self._refuse(
                        result, doc.collection, doc.id, "Xero refused it", errors or ["no answer for it"]
                    )
                elif endpoint != "ManualJournals" and total is not None and total != doc.total:
                    self._refuse(
                        result,
                        doc.collection,
                        doc.id,
                        f"Xero made its total {total}, ConnectWise's is {doc.total}: {doc.type} "
                        f"{doc.number!r} ({element[_ID_FIELD[endpoint]]}) is in Xero as "
                        f"{element.get('Status')}; correct or delete it there",
                    )
                else:
                    self._loaded(result, doc, element, created=True)

    def _put(self, endpoint: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        return self.client.put(endpoint, body, idempotency_key=key, params={"summarizeErrors": False})

    def _body(self, doc: XeroDocument) -> dict[str, Any]:
        if doc.contact is None:
            return dict(doc.payload)
        return {**doc.payload, "Contact": {"ContactID": self._contacts[doc.contact.number]}}

    # -- results ----------------------------------------------------------------------------
    @staticmethod
    def _loaded(result: LoadResult, doc: XeroDocument, element: Mapping[str, Any], *, created: bool) -> None:
        result.loaded.append(
            {
                "collection": doc.collection,
                "id": doc.id,
                "xero_id": str(element[_ID_FIELD[doc.endpoint]]),
                "number": doc.number,
                "type": doc.type,
                "created": created,
            }
        )

    @staticmethod
    def _refuse(
        result: LoadResult, collection: str, doc_id: Any, reason: str, messages: Iterable[str] = ()
    ) -> None:
        result.refused.append(
            {"collection": collection, "id": doc_id, "reason": reason, "messages": list(messages)}
        )


def _errors(element: Mapping[str, Any]) -> list[str]:
    """Xero's messages for one element of a ``summarizeErrors=false`` answer."""
    messages = [
        str(e.get("Message"))
        for e in element.get("ValidationErrors") or []
        if isinstance(e, Mapping) and e.get("Message")
    ]
    messages = list(dict.fromkeys(messages))  # Xero repeats a message for each line it concerns
    failed = element.get("HasErrors") or element.get("HasValidationErrors")
    failed = failed or element.get("StatusAttributeString") == "ERROR"
    if failed and not messages:
        messages = ["Xero refused it without a message"]
    return messages


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
