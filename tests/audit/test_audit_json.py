"""Issue #16: audit details on the audit page and in the CSV export are JSON, not Python dict text."""

from __future__ import annotations

import csv
import html
import io
import json

import pytest

from audit.models import AuditEvent, details_json
from audit.services.events import audit_record

pytestmark = pytest.mark.django_db

BEFORE = {"review_version": 1, "final_label": "PNEUMONIA", "reason": "", "note": None}
AFTER = {"final_label": "NON_DIAGNOSTIC", "reason": "wrong_input", "amended": True, "who": "Zoë"}


@pytest.fixture
def amended(carol) -> AuditEvent:
    return audit_record(
        actor=carol, action="review.amend", object_type="study", object_id="s-1", before=BEFORE, after=AFTER
    )


def test_details_json_is_parseable_and_stable():
    assert details_json(None) == "" and details_json({}) == ""
    text = details_json(AFTER)
    assert json.loads(text) == AFTER and text == details_json(dict(reversed(list(AFTER.items()))))
    assert "True" not in text and "'" not in text and "Zoë" in text


def test_audit_csv_details_are_json(client, admin_user, amended):
    client.force_login(admin_user)
    response = client.get("/audit/?format=csv&action=review.amend")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    (row,) = [r for r in rows if r["action"] == "review.amend"]
    assert json.loads(row["before"]) == BEFORE and json.loads(row["after"]) == AFTER
    assert "{'" not in row["before"] + row["after"] and "None" not in row["before"]
    # An event without details has empty cells, not "None".
    audit_record(actor=admin_user, action="study.view", object_type="study", object_id="s-2")
    rows = list(
        csv.DictReader(io.StringIO(b"".join(client.get("/audit/?format=csv").streaming_content).decode()))
    )
    viewed = next(r for r in rows if r["action"] == "study.view")
    assert viewed["before"] == "" and viewed["after"] == ""


def test_audit_page_shows_json_details(client, admin_user, amended):
    client.force_login(admin_user)
    page = html.unescape(client.get("/audit/?action=review.amend").content.decode())
    assert details_json(BEFORE) in page and details_json(AFTER) in page
    assert "{'final_label'" not in page
