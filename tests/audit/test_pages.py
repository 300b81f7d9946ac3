"""The audit page: filters and the audited CSV export."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from reading.services.claims import reading_claim_take
from tests.diagnosis.factories import completed_study
from tests.fixtures.pages import assert_no_inline_code, client_for, html

pytestmark = pytest.mark.django_db


def test_audit_page_filters_and_exports_csv_and_the_export_is_audited(
    admin_user: Any, alice: Any, carol: Any
) -> None:
    study = completed_study(created_by=alice)
    reading_claim_take(user=carol, study=study)
    client = client_for(admin_user)
    body = html(client.get(reverse("audit"), {"action": "study.claim"}))
    assert "study.claim" in body and "carol" in body and 'id="audit-export"' in body
    assert_no_inline_code(body)
    export = client.get(reverse("audit"), {"action": "study.claim", "format": "csv"})
    text = b"".join(export.streaming_content).decode()
    assert export["Content-Type"] == "text/csv" and "attachment" in export["Content-Disposition"]
    rows = text.strip().splitlines()
    assert rows[0].startswith("id,created_at,actor_username,action") and len(rows) == 2 and "carol" in rows[1]
    assert AuditEvent.objects.filter(action="audit.export", actor=admin_user).count() == 1


# --- the model page -----------------------------------------------------------------------------------
