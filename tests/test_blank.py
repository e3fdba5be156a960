"""One blank rule: every optional setting reads None and the texts a template, JSON or an emptied
form field leave (``""``, ``"  "``, ``"None"``, ``"null"``, any case) as "not given"."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cwgl.blank import is_blank, text_or_none
from airflow_provider_cwgl.connectwise.settings import settings_from_fields
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.documents import parse_documents
from airflow_provider_cwgl.glexport.identifier import resolve_batch_identifier
from airflow_provider_cwgl.glexport.request import (
    ID_LIST_SETTINGS,
    build_export_request,
    to_batch,
)
from airflow_provider_cwgl.operators.approval import parse_approvers
from airflow_provider_cwgl.output.resolve import resolve_file_path

BLANKS = ["", "  ", "None", "null", "NULL", " none\n"]


@pytest.mark.parametrize("value", [None, *BLANKS])
def test_blank_values(value: Any) -> None:
    assert is_blank(value)


@pytest.mark.parametrize("value", ["0", "nothing", "None of these", "'None'", 0, False, [], {}])
def test_values_that_are_given(value: Any) -> None:
    assert not is_blank(value)


@pytest.mark.parametrize("setting", ["location_id", "location_name", "thru_date", "references_to_fetch"])
@pytest.mark.parametrize("blank", BLANKS)
def test_request_settings_read_a_blank_as_not_given(setting: str, blank: str) -> None:
    assert build_export_request(**{setting: blank}) == build_export_request(**{setting: None})


@pytest.mark.parametrize(
    "setting", ["summarize_invoices", "gl_interface_identifier", *(s.setting for s in ID_LIST_SETTINGS)]
)
@pytest.mark.parametrize("blank", BLANKS)
def test_request_options_read_a_blank_as_not_given(setting: str, blank: str) -> None:
    options = build_export_request(**{setting: blank}).options
    assert options == build_export_request(**{setting: None}).options
    assert options.body() == {}


@pytest.mark.parametrize("blank", BLANKS)
def test_batch_settings_read_a_blank_as_not_given(blank: str) -> None:
    assert to_batch(blank) is None
    assert resolve_batch_identifier(blank, build_export_request(), None) is None


@pytest.mark.parametrize("blank", BLANKS)
def test_a_blank_connection_id_is_no_connection(blank: str) -> None:
    assert text_or_none(blank) is None
    assert text_or_none(" aws_exports ") == "aws_exports"


@pytest.mark.parametrize("blank", BLANKS)
def test_a_blank_file_is_refused_naming_the_setting(blank: str) -> None:
    with pytest.raises(SettingError, match="^output_file: "):
        resolve_file_path(blank, None, "output_file")


@pytest.mark.parametrize("blank", BLANKS)
def test_the_batch_steps_documents_and_approvers_read_a_blank_as_not_given(blank: str) -> None:
    assert parse_documents(blank) is None
    assert parse_approvers(blank) is None


@pytest.mark.parametrize("blank", BLANKS)
def test_a_blank_connection_extra_takes_its_default(blank: str) -> None:
    def settings(**extra: Any) -> Any:
        extra = {"company_id": "acme", "client_id": "c1", **extra}
        return settings_from_fields("https://cw.example.com", "pub", "priv", extra)

    assert settings(request_deadline=blank, max_pages=blank, backoff_base=blank) == settings()
