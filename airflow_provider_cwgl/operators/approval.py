"""The accountant's approval of an export: Airflow's human-in-the-loop ``ApprovalOperator``, with who
may approve and how long to wait read from the run's params when the task runs (``ApprovalOperator``
fixes them when the DAG is parsed; a finance team sets them per run). A timeout answers ``Reject``:
nothing is loaded or posted and the day's records stay unposted for the next export.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS
from airflow_provider_cwgl.glexport.review import render_review
from airflow_provider_cwgl.glexport.summary import ExportSummary

if TYPE_CHECKING:
    from airflow.sdk.execution_time.hitl import HITLUser

DEFAULT_TIMEOUT_MINUTES = 24 * 60


def parse_approvers(value: Any) -> list[HITLUser] | None:
    """Approvers as HITL ``assigned_users``: a list of user ids (or ``{"id", "name"}``), a JSON
    list, or comma-separated ids. Empty: anyone allowed to answer the DAG's HITL tasks."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
        except ValueError as exc:
            raise SettingError("approvers", f"expected a JSON list of user ids, got {text!r}: {exc}") from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise SettingError("approvers", f"expected a list of user ids, got {value!r}")
    users: list[HITLUser] = []
    for entry in value:
        if isinstance(entry, dict) and str(entry.get("id") or "").strip():
            users.append({"id": str(entry["id"]), "name": str(entry.get("name") or entry["id"])})
        elif isinstance(entry, (str, int)) and not isinstance(entry, bool) and str(entry).strip():
            users.append({"id": str(entry).strip(), "name": str(entry).strip()})
        else:
            raise SettingError(
                "approvers", f"{entry!r} is not a user id (text) or {{'id': ..., 'name': ...}}"
            )
    return users or None


def parse_timeout(value: Any) -> timedelta:
    """The wait for an answer, in minutes (a positive number)."""
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        minutes = float("nan")
    if not minutes > 0 or minutes == float("inf"):
        raise SettingError(
            "approval_timeout_minutes", f"expected a positive number of minutes, got {value!r}"
        )
    return timedelta(minutes=minutes)


class GLExportApprovalOperator(ApprovalOperator):
    """``ApprovalOperator`` for one export: approvers from the param ``approvers_param``, the
    response timeout (minutes) from ``timeout_param``; a timeout rejects; a rejection skips every
    downstream task whatever its trigger rule. The DAG renders the body with ``cwgl_review``."""

    def __init__(
        self,
        *,
        approvers_param: str = "approvers",
        timeout_param: str = "approval_timeout_minutes",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("defaults", [ApprovalOperator.REJECT])
        kwargs.setdefault("ignore_downstream_trigger_rules", True)
        super().__init__(**kwargs)
        self.approvers_param = approvers_param
        self.timeout_param = timeout_param

    def execute(self, context: Context) -> Any:
        params = context["params"]
        self.assigned_users = parse_approvers(params.get(self.approvers_param))
        self.response_timeout = parse_timeout(params.get(self.timeout_param, DEFAULT_TIMEOUT_MINUTES))
        self.log.info(
            "Waiting up to %s for %s to approve",
            self.response_timeout,
            ", ".join(u["id"] for u in self.assigned_users) if self.assigned_users else "any permitted user",
        )
        return super().execute(context)


def review_subject(summary: ExportSummary, day: str) -> str:
    """``GL export 2026-03-01: 12 transactions dated 2026-02-27 to 2026-03-01, 3 expenses dated
    2026-03-01 (2 need attention)``: the documents and the days they are dated (``documentDate``)."""
    review = summary["review"]
    dates = summary.get("document_dates") or {}
    counts = {c: v["count"] for c, v in review["collections"].items() if c not in PARTY_COLLECTIONS}
    text = ", ".join(f"{n} {c}{_dated(dates.get(c))}" for c, n in counts.items()) or "no documents"
    attention = review["balance"]["unbalanced_count"] + review["unmapped"]["count"]
    flag = f" ({attention} need attention)" if attention else ""
    return f"GL export {day}: {text}{flag}"


def _dated(span: Any) -> str:
    if not span:
        return ""
    first, last = span["first"], span["last"]
    return f" dated {first}" if first == last else f" dated {first} to {last}"


def review_body(summary: ExportSummary, load_target: str | None = None) -> str:
    """The approval body: the review (what needs attention first), then the file approved and,
    when given, where approving loads it (``operators.xero.load_target``)."""
    body = (
        render_review(summary["review"])
        + f"\n---\n\nFile `{summary['output']}`, sha256 `{summary['sha256']}`\n"
    )
    return body + (f"\n{load_target}\n" if load_target else "")


# For a DAG's user_defined_macros: {{ cwgl_review_subject(summary, day) }} and {{ cwgl_review(summary) }}
TEMPLATE_MACROS = {"cwgl_review_subject": review_subject, "cwgl_review": review_body}
