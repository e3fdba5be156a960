"""GLExportToXeroOperator: load an approved export into Xero, so the batch step posts what Xero holds."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.dag_helpers import run_setting
from airflow_provider_cwgl.errors import SettingError, XeroRefusedError
from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS
from airflow_provider_cwgl.glexport.documents import doc_key, parse_documents
from airflow_provider_cwgl.glexport.xml_reader import iter_items
from airflow_provider_cwgl.hooks.xero import XeroHook
from airflow_provider_cwgl.operators.failures import fail_without_retry
from airflow_provider_cwgl.output.resolve import open_for_reading, sha256_of
from airflow_provider_cwgl.xero.loader import LoadedDocument, LoadResult, RefusedDocument, XeroLoader
from airflow_provider_cwgl.xero.mapping import JOURNAL_STATUS, MappingSettings

REFUSED_KEY = "refused"  # the XCom key of the documents Xero (or the mapping) refused
# A DAG's Xero settings, read on the worker when the task runs (never when the file is parsed): the
# run's param, else the Variable, else the worker's environment variable.
RUN_SETTINGS: dict[str, tuple[str, str]] = {
    "xero_conn_id": ("cwgl_xero_conn_id", "CWGL_XERO_CONN_ID"),
    "xero_account_codes": ("cwgl_xero_account_codes", "CWGL_XERO_ACCOUNT_CODES"),
    "xero_tax_types": ("cwgl_xero_tax_types", "CWGL_XERO_TAX_TYPES"),
    "xero_invoice_status": ("cwgl_xero_invoice_status", "CWGL_XERO_INVOICE_STATUS"),
}


class GLExportToXeroOperator(BaseOperator):
    """Load the documents of an approved GLExport file into Xero: invoices, credit notes, bills and
    manual journals (the rules: :doc:`/xero-mapping`).

    :param export_summary: the summary ``GLBatchExportOperator`` returned (e.g. ``export.output``):
        its ``output`` is read through ``export_file_conn_id`` and must still have its ``sha256``.
    :param xero_conn_id: the ``xero`` connection.
    :param export_file_conn_id: the connection for an object-storage export (the export's
        ``output_conn_id``); none for a local file.
    :param account_codes: ConnectWise GL account number → Xero account code (a dict, or its JSON
        text). Unlisted numbers are sent as they are.
    :param tax_types: ConnectWise tax code → Xero ``TaxType``. Needed for every taxed document.
    :param invoice_status: ``DRAFT`` (default) or ``AUTHORISED``; manual journals ``DRAFT`` or
        ``POSTED``.
    :param documents: None (every document), or a list of ``{"collection", "id"}`` to load only
        those (as ``GLBatchCreateOperator`` reads it). A document not in the export is an error.

    Returns the documents Xero holds (created now or found from an earlier run), each
    ``{"collection", "id", "xero_id", "number", "type", "created"}``: give it to
    ``GLBatchCreateOperator(documents=...)`` to post exactly those. Refused documents are not
    returned (so they stay unposted and the next export carries them); they are logged with Xero's
    messages and pushed to the XCom key ``refused``; the task itself succeeds, so the post step
    runs on what Xero holds. Make refusals fail the run at its end with ``check_refused`` (see
    :doc:`/operators/xero`): the post step never has to run after a failed load.
    """

    template_fields: Sequence[str] = (
        "export_summary",
        "xero_conn_id",
        "export_file_conn_id",
        "account_codes",
        "tax_types",
        "invoice_status",
        "documents",
    )
    template_fields_renderers = {"account_codes": "json", "tax_types": "json", "documents": "json"}
    ui_color = "#13b5ea"

    def __init__(
        self,
        *,
        export_summary: Any,
        xero_conn_id: str = XeroHook.default_conn_name,
        export_file_conn_id: str | None = None,
        account_codes: Any = None,
        tax_types: Any = None,
        invoice_status: str = "DRAFT",
        documents: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.export_summary = export_summary
        self.xero_conn_id = xero_conn_id
        self.export_file_conn_id = export_file_conn_id
        self.account_codes = account_codes
        self.tax_types = tax_types
        self.invoice_status = invoice_status
        self.documents = documents

    @fail_without_retry
    def execute(self, context: Context) -> list[LoadedDocument]:
        result = load_export_into_xero(
            self.export_summary,
            xero_conn_id=self.xero_conn_id,
            export_file_conn_id=self.export_file_conn_id,
            account_codes=self.account_codes,
            tax_types=self.tax_types,
            invoice_status=self.invoice_status,
            documents=self.documents,
            log=self.log,
        )
        context["ti"].xcom_push(key=REFUSED_KEY, value=result.refused)
        return result.loaded


def load_export_into_xero(
    export_summary: Any,
    *,
    xero_conn_id: str,
    export_file_conn_id: str | None = None,
    account_codes: Any = None,
    tax_types: Any = None,
    invoice_status: Any = None,
    documents: Any = None,
    log: logging.Logger | Any = None,
) -> LoadResult:
    """The operator's work, for a ``@task`` that decides at run time whether to load into Xero
    (the example post DAG). Every setting is checked before any request."""
    log = log or logging.getLogger(__name__)
    settings = MappingSettings.parse(account_codes, tax_types, invoice_status)
    wanted = parse_documents(documents)
    summary = _summary(export_summary)
    conn_id = None if is_blank(export_file_conn_id) else export_file_conn_id
    with open_for_reading(summary["output"], conn_id, "export_summary") as source:
        digest = sha256_of(source)
    if digest != summary["sha256"]:
        raise SettingError(
            "export_summary",
            f"{summary['output']} is not the file approved (sha256 {digest}, the summary's "
            f"{summary['sha256']}); was it replaced by a later run?",
        )
    if wanted is not None:
        with open_for_reading(summary["output"], conn_id, "export_summary") as source:
            present = {
                doc_key(c, item.get("id")) for c, item in iter_items(source) if c not in PARTY_COLLECTIONS
            }
        missing = sorted(set(wanted) - present)
        if missing:
            listed = ", ".join(f"{c} {i}" for c, i in missing[:20])
            raise SettingError("documents", f"{len(missing)} document(s) are not in the export: {listed}")
    hook = XeroHook(xero_conn_id=xero_conn_id)
    with (
        hook.get_client() as client,
        open_for_reading(summary["output"], conn_id, "export_summary") as source,
    ):
        result = XeroLoader(client, settings).load(
            iter_items(source), file_sha256=summary["sha256"], documents=wanted
        )
        calls = client.calls
    created = sum(1 for d in result.loaded if d["created"])
    log.info(
        "Xero holds %d document(s) of %s (%d created now, %d found from an earlier run), %d refused; %d call(s)",
        len(result.loaded),
        summary["output"],
        created,
        len(result.loaded) - created,
        len(result.refused),
        calls,
    )
    if result.refused:
        log.warning("%s", XeroRefusedError(result.refused))
    return result


def _summary(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise SettingError("export_summary", "expected the export's summary (a dict or JSON)") from exc
    if not isinstance(value, dict) or is_blank(value.get("output")) or not value.get("sha256"):
        raise SettingError(
            "export_summary", "expected the summary GLBatchExportOperator returns (with output and sha256)"
        )
    return value


def check_refused(refused: Any) -> None:
    """Fail (without retries) when the load refused documents: for a task at the end of the run,
    given ``ti.xcom_pull(task_ids=<the load>, key="refused")`` (None when the load did not run)."""
    documents: list[RefusedDocument] = list(refused or [])
    if documents:
        raise AirflowFailException(str(XeroRefusedError(documents))) from XeroRefusedError(documents)


def xero_run_settings(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """``load_export_into_xero``'s keyword settings from a run's params (``xero_conn_id``,
    ``xero_account_codes``, ``xero_tax_types``, ``xero_invoice_status``), each else its Variable
    (``cwgl_xero_…``) else ``$CWGL_XERO_…``; None when no Xero connection is configured."""
    values = {name: run_setting(params.get(name), *where) for name, where in RUN_SETTINGS.items()}
    if values["xero_conn_id"] is None:
        return None
    return {
        "xero_conn_id": values["xero_conn_id"],
        "account_codes": values["xero_account_codes"],
        "tax_types": values["xero_tax_types"],
        "invoice_status": values["xero_invoice_status"],
    }


def load_target(params: Mapping[str, Any]) -> str:
    """What the load step will do, for the approval's review (a DAG macro)."""
    settings = xero_run_settings(params)
    if settings is None:
        variable, env = RUN_SETTINGS["xero_conn_id"]
        return (
            "Load: the placeholder step (no Xero connection configured: the param xero_conn_id, the "
            f"Variable {variable} or ${env}); every document is posted."
        )
    status = MappingSettings.parse(invoice_status=settings["invoice_status"]).invoice_status
    return (
        f"Load: into Xero through the connection `{settings['xero_conn_id']}`, invoices, bills and "
        f"credit notes as {status}, manual journals as {JOURNAL_STATUS[status]}; only the documents "
        "Xero accepts are posted."
    )
