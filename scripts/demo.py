"""`make demo`: the daily GL export end to end against the embedded ConnectWise sandbox, then the
same day loaded into the sandbox Xero and posted.

Prepares an Airflow home with SQLite in .demo/ (git-ignored), starts the sandbox, points the
`connectwise_default` connection at it, runs the `cwgl_daily_gl_export` DAG for a fixed business
day with `airflow dags test`; then starts the sandbox Xero and runs `cwgl_gl_export_and_post` for
that day, unattended (export, load into Xero, mark exported); stops both and prints where the file
is with its summary, and what Xero's books hold. Safe to run again: each run replaces the file for
that day, and both sandboxes start afresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from airflow_provider_cwgl.glexport.summary import ExportSummary

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / ".demo"
BUSINESS_DAY = "2026-03-01"
CONF = {
    "export_unposted_invoices": True,
    "export_unposted_expenses": True,
    "export_unposted_procurement": True,
    "references_to_fetch": ["customer/company", "transaction/invoice", "purchaseTransaction/purchaseOrder"],
}


def main() -> int:
    home = DEMO / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "CWGL_OUTPUT_ROOT": str(DEMO / "output"),
        "PYTHONWARNINGS": "ignore",
    }
    os.environ.update(env)  # for reading the result back below
    log_file = DEMO / "demo.log"
    with log_file.open("w") as log:
        step("Preparing the Airflow metadata database (SQLite in .demo/airflow)")
        run([sys.executable, "-m", "airflow", "db", "migrate"], env, log, log_file)

        from airflow_provider_cwgl.sandbox import Sandbox, generated_store

        store = generated_store(transactions=250, anchor=date.fromisoformat(BUSINESS_DAY))
        with Sandbox(store) as sandbox:
            step(
                f"ConnectWise sandbox running on {sandbox.url} with {len(store.documents)} unposted documents"
            )
            env["AIRFLOW_CONN_CONNECTWISE_DEFAULT"] = json.dumps(sandbox.connection())
            step(f"Running cwgl_daily_gl_export for business day {BUSINESS_DAY} (airflow dags test)")
            run(
                [
                    sys.executable,
                    "-m",
                    "airflow",
                    "dags",
                    "test",
                    "cwgl_daily_gl_export",
                    BUSINESS_DAY,
                    "-c",
                    json.dumps(CONF),
                ],
                env,
                log,
                log_file,
            )
            xero = load_into_xero(env, log, log_file)
        step("Sandboxes stopped")
    report(read_summary())
    print(xero)
    return 0


def load_into_xero(env: dict[str, str], log: object, log_file: Path) -> str:
    """The same day through cwgl_gl_export_and_post, unattended, into the sandbox Xero: export,
    load, post. Returns what Xero's books then hold."""
    from airflow_provider_cwgl.sandbox.xero import XeroSandbox
    from airflow_provider_cwgl.sandbox.xero.connectwise_books import (
        ACCOUNT_CODES,
        TAX_TYPES,
        connectwise_books,
    )

    with XeroSandbox(connectwise_books("Demo Company")) as xero:
        step(f"Xero sandbox running on {xero.url}; loading the day with cwgl_gl_export_and_post")
        env["AIRFLOW_CONN_XERO_DEFAULT"] = json.dumps(xero.connection())
        env["CWGL_XERO_CONN_ID"] = "xero_default"
        env["AIRFLOW_VAR_CWGL_XERO_ACCOUNT_CODES"] = json.dumps(ACCOUNT_CODES)
        env["AIRFLOW_VAR_CWGL_XERO_TAX_TYPES"] = json.dumps(TAX_TYPES)
        conf = json.dumps({"require_approval": False})
        command = [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            "cwgl_gl_export_and_post",
            BUSINESS_DAY,
            "-c",
            conf,
        ]
        run(command, env, log, log_file)
        books = xero.store
        return (
            f"Xero (sandbox): {len(books.invoices)} invoices and bills, {len(books.credit_notes)} credit notes, "
            f"{len(books.manual_journals)} manual journals, {len(books.contacts)} contacts; "
            f"{sum(1 for r in xero.requests if not r.path.startswith('/'))} API calls"
        )


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(command: list[str], env: dict[str, str], log: object, log_file: Path) -> None:
    result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # type: ignore[arg-type]
    if result.returncode != 0:
        print(f"\nFAILED: {' '.join(command[2:5])} exited {result.returncode}.", file=sys.stderr)
        print(f"The full log is in {log_file}; its last lines:", file=sys.stderr)
        print("".join(log_file.read_text().splitlines(keepends=True)[-25:]), file=sys.stderr)
        print("If the database looks broken, `rm -rf .demo` and run `make demo` again.", file=sys.stderr)
        raise SystemExit(1)


def read_summary() -> ExportSummary:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel)
            .where(XComModel.dag_id == "cwgl_daily_gl_export", XComModel.key == "return_value")
            .order_by(XComModel.timestamp.desc())
        ).first()
        return cast("ExportSummary", XComModel.deserialize_value(row))


def report(summary: ExportSummary) -> None:
    refs = summary.get("references")
    print()
    print(f"GLExport file : {summary['output']}")
    print(f"Size / SHA-256: {summary['bytes']:,} bytes / {summary['sha256']}")
    print(f"Request       : {json.dumps(summary['request'])}")
    print("Records       : " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()))
    print("Totals        : " + ", ".join(f"{k} {v}" for k, v in summary["totals"].items()))
    print("Transactions  : " + document_types(summary["output"]))
    balance = summary["review"]["balance"]
    print(f"Balance check : {balance['checked']} documents, {balance['unbalanced_count']} unbalanced")
    dates = summary["document_dates"]
    print("Dated         : " + ", ".join(f"{c} {d['first']} to {d['last']}" for c, d in dates.items()))
    print(f"GL entry ids  : {summary['gl_entry_id_count']} (what marks these records exported)")
    if refs:
        print(
            f"References    : {len(refs['paths'])} paths, {refs['records']} records in {refs['rounds']} rounds, "
            f"{refs['missing']} missing"
        )
    print(f"Characters removed (not allowed in XML): {summary['removed_characters']}")


def document_types(path: str) -> str:
    """The file's transactions by ``documentType``, read back from the XML, with the credit memos'
    numbers and totals (a real tenant's are typed by hand: ``119CM``)."""
    from collections import Counter

    from airflow_provider_cwgl.glexport.xml_reader import iter_items

    types: Counter[str] = Counter()
    memos: list[str] = []
    with open(path, "rb") as source:
        for collection, item in iter_items(source):
            if collection == "transactions":
                types[str(item.get("documentType"))] += 1
                if item.get("documentType") == "CREDIT MEMO":
                    memos.append(f"{item.get('documentNumber')} {item.get('total')}")
    text = ", ".join(f"{kind} {count}" for kind, count in types.items())
    return f"{text} (credit memos: {', '.join(memos)})" if memos else text


if __name__ == "__main__":
    sys.exit(main())
