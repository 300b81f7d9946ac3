"""The study JSON's `source` and `study_instance_uid`, and finding a study by its UID (scoped)."""

from __future__ import annotations

from typing import Any

import pytest

from diagnosis.models import Study
from tests.diagnosis.factories import completed_study
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db

UID = "1.2.826.0.1.3680043.8.498.12345"


def test_source_and_uid_in_the_json_and_the_uid_filter_is_scoped(alice: Any, bob: Any) -> None:
    mine = completed_study(created_by=alice)
    Study.objects.filter(id=mine.id).update(source=Study.Source.DICOM, study_instance_uid=UID)
    completed_study(created_by=alice)  # another of Alice's, without the UID
    bobs = completed_study(created_by=bob)
    Study.objects.filter(id=bobs.id).update(study_instance_uid=UID)

    body = token_client(alice).get("/api/v1/studies/", {"study_instance_uid": UID}).json()
    assert [row["id"] for row in body["results"]] == [str(mine.id)]
    assert body["results"][0]["source"] == "dicom"
    assert body["results"][0]["study_instance_uid"] == UID
    # Bob sees only his own study with that UID; an unknown UID finds nothing.
    assert [
        r["id"] for r in token_client(bob).get(f"/api/v1/studies/?study_instance_uid={UID}").json()["results"]
    ] == [str(bobs.id)]
    assert token_client(alice).get("/api/v1/studies/?study_instance_uid=1.2.3").json()["results"] == []


def test_an_upload_is_source_upload(alice: Any) -> None:
    study = completed_study(created_by=alice)
    body = token_client(alice).get(f"/api/v1/studies/{study.id}/").json()
    assert (body["source"], body["study_instance_uid"]) == ("upload", "")
