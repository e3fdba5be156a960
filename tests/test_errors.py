"""One base for the package's errors, and which of them fail a task without retries."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException
from conftest import fails_task

from airflow_provider_cwgl.errors import (
    BatchConflictError,
    BatchNotCreatedError,
    BatchOverlapError,
    ConnectWiseConfigError,
    ConnectWiseError,
    CwglError,
    ElementNameError,
    EmptyExportError,
    ExportBodyError,
    ExportSettingError,
    JsonLimitError,
    ReferenceValueTooLongError,
    Retry,
    SettingError,
)
from airflow_provider_cwgl.glexport.references import ReferenceResolver, chunk_values
from airflow_provider_cwgl.operators.failures import fail_without_retry


@pytest.mark.parametrize(
    ("cls", "permanent"),
    [
        (SettingError, True),
        (ExportSettingError, True),
        (ConnectWiseConfigError, True),
        (BatchConflictError, True),
        (BatchOverlapError, True),
        (BatchNotCreatedError, False),
        (ConnectWiseError, False),
        (ExportBodyError, True),
        (JsonLimitError, True),
        (ElementNameError, True),
        (ReferenceValueTooLongError, True),
        (EmptyExportError, False),
    ],
)
def test_every_error_derives_from_the_package_base(cls: type[CwglError], permanent: bool) -> None:
    assert issubclass(cls, CwglError)
    assert (cls.retry is Retry.NEVER) is permanent


@pytest.mark.parametrize(
    ("status", "retry"),
    [(None, Retry.NOW), (429, Retry.NOW), (503, Retry.NOW), (401, Retry.LATER), (404, Retry.LATER)],
)
def test_connectwise_errors_are_retried_at_once_only_for_passing_faults(
    status: int | None, retry: Retry
) -> None:
    assert ConnectWiseError(method="GET", path="system/info", status=status).retry is retry
    # What retrying at once cannot fix (a body too large, a deadline) says so.
    unretried = ConnectWiseError(method="GET", path="system/info", status=status, retry=Retry.LATER)
    assert unretried.retry is Retry.LATER


@pytest.mark.parametrize(
    ("code", "message", "retry"),
    [
        ("ConnectWiseApi", "A timeout has occured. Please try again.", Retry.NOW),
        (
            None,
            "Timeout expired. The timeout period elapsed prior to obtaining a connection from the pool",
            Retry.NOW,
        ),
        (None, "Execution TIMED OUT", Retry.NOW),
        ("ConnectWiseApi", "Error converting value \"x\" to type 'System.Int32'.", Retry.NEVER),
        ("ConnectWiseApi", "String was not recognized as a valid Boolean.", Retry.NEVER),
        (None, None, Retry.NEVER),
    ],
)
def test_a_500_is_passing_only_when_it_says_timeout_or_connection_pool(
    code: str | None, message: str | None, retry: Retry
) -> None:
    assert ConnectWiseError(method="GET", path="x", status=500, code=code, message=message).retry is retry


def _raising(exc: Exception) -> object:
    @fail_without_retry
    def execute() -> None:
        raise exc

    return execute


def test_permanent_errors_fail_the_task_carrying_their_error_and_setting() -> None:
    with fails_task(ConnectWiseConfigError) as info:
        _raising(ConnectWiseConfigError("extra.timeout", "must be a positive, finite number, got 'nan'"))()
    assert isinstance(info.task_error, AirflowFailException)
    assert str(info.task_error) == "extra.timeout: must be a positive, finite number, got 'nan'"
    assert info.value.setting == "extra.timeout"
    assert info.value.problem == "must be a positive, finite number, got 'nan'"
    assert str(info.value) == "extra.timeout: must be a positive, finite number, got 'nan'"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectWiseError(method="GET", path="system/info", status=503),
        BatchNotCreatedError("batch 'x' could not be created after 6 attempts"),
        KeyError("not ours"),
    ],
)
def test_other_errors_keep_the_tasks_retries(exc: Exception) -> None:
    with pytest.raises(type(exc)) as info:
        _raising(exc)()
    assert info.value is exc
    assert not isinstance(info.value, AirflowFailException)


@pytest.mark.parametrize(
    "summary", [{}, {"request": {}}, {"request": None, "gl_documents_file": "/x", "sha256": "0"}]
)
def test_a_summary_that_is_not_the_exports_names_the_setting(summary: dict) -> None:
    from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator

    operator = GLBatchCreateOperator(task_id="b", export_summary=summary)
    with pytest.raises(SettingError, match="^export_summary: expected the summary GLBatchExportOperator"):
        operator._selection(summary, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, "8", True])
def test_bad_reference_concurrency_is_a_setting_error(value: object) -> None:
    from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

    with pytest.raises(ExportSettingError, match=r"^reference_concurrency: expected an integer >= 1, got"):
        GLBatchExportOperator(task_id="x", output_file="/tmp/x.xml", reference_concurrency=value)


@pytest.mark.parametrize("value", [0, -1])
def test_the_reference_engine_refuses_a_concurrency_below_one(value: int) -> None:
    with pytest.raises(
        SettingError, match=rf"^reference_concurrency: expected an integer >= 1, got {value}$"
    ):
        ReferenceResolver(None, [], concurrency=value)  # type: ignore[arg-type]


def test_a_value_too_long_for_any_url_is_a_permanent_error() -> None:
    with pytest.raises(ReferenceValueTooLongError, match=r"alone makes a URL over 100 characters$") as info:
        list(
            chunk_values(
                "https://x.example/v/apis/3.0/finance/invoices", "invoiceNumber", ['"' + "9" * 80 + '"'], 100
            )
        )
    assert isinstance(info.value, ValueError) and info.value.retry is Retry.NEVER
