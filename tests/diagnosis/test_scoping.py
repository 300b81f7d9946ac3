"""Object scoping: a clinician sees their department's records, or only their own without a department.

Out-of-scope records answer 404 (never 403), so their existence does not leak; nothing is audited for them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.models import AuditEvent
from diagnosis.models import Department, StaffProfile, Study
from portal.api.matrix import ALLOWED, CLINICIAN, MATRIX, ApiRoute, api_routes
from tests.conftest import _user
from tests.diagnosis.factories import completed_study
from tests.fixtures.api import Scene, token_client

pytestmark = pytest.mark.django_db


def _urls(scene: Scene) -> dict[str, str]:
    study = f"/api/v1/studies/{scene.study.id}"
    return {
        "patient": f"/api/v1/patients/{scene.patient.id}/",
        "study": f"{study}/",
        "image": f"{study}/image/",
        "heatmap": f"{study}/heatmap/",
    }


def _ids(response: Any) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def test_second_clinician_sees_none_of_alices_records(alice: Any, bob: Any, scene: Scene) -> None:
    client = token_client(bob)
    for kind, url in _urls(scene).items():
        response = client.get(url)
        assert response.status_code == 404, (kind, response.status_code)
        assert response.json()["error"]["code"] == "not_found"
    assert _ids(client.get("/api/v1/studies/")) == set()
    assert _ids(client.get("/api/v1/patients/")) == set()
    assert client.get(f"/api/v1/patients/?mrn={scene.patient.mrn}").json()["count"] == 0
    assert client.post(f"/api/v1/studies/{scene.study.id}/cancel/").status_code == 404
    assert not AuditEvent.objects.filter(actor=bob).exclude(action__startswith="auth.").exists()


def test_alice_sees_her_own_records_and_each_access_is_audited(alice: Any, scene: Scene) -> None:
    client = token_client(alice)
    for url in _urls(scene).values():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if response.streaming:
            assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert _ids(client.get("/api/v1/studies/")) == {str(scene.study.id)}
    assert _ids(client.get("/api/v1/patients/")) == {str(scene.patient.id)}
    actions = set(AuditEvent.objects.filter(actor=alice).values_list("action", flat=True))
    assert {"study.view", "image.download", "heatmap.download"} <= actions


def _in_department(user: Any, name: str) -> Department:
    department, _ = Department.objects.get_or_create(name=name)
    StaffProfile.objects.update_or_create(user=user, defaults={"department": department})
    user.refresh_from_db()
    return department


def test_department_colleague_sees_the_study_other_department_does_not(alice: Any, bob: Any) -> None:
    paeds = _in_department(alice, "Paediatrics")
    _in_department(bob, "Paediatrics")
    erin = _user("erin", "clinician")
    _in_department(erin, "Emergency")
    study = completed_study(created_by=alice)
    study.department = paeds
    study.save(update_fields=["department"])
    study.patient.department = paeds
    study.patient.save(update_fields=["department"])

    colleague = token_client(bob)
    assert colleague.get(f"/api/v1/studies/{study.id}/").status_code == 200
    assert _ids(colleague.get("/api/v1/studies/")) == {str(study.id)}
    assert colleague.get(f"/api/v1/patients/{study.patient.id}/").status_code == 200

    outsider = token_client(erin)
    assert outsider.get(f"/api/v1/studies/{study.id}/").status_code == 404
    assert outsider.get(f"/api/v1/patients/{study.patient.id}/").status_code == 404
    assert _ids(outsider.get("/api/v1/studies/")) == set()


def test_upload_is_stamped_with_the_uploaders_department(alice: Any, bob: Any, xray_bytes: bytes) -> None:
    paeds = _in_department(alice, "Paediatrics")
    _in_department(bob, "Paediatrics")
    payload = {"image": SimpleUploadedFile("c.jpg", xray_bytes), "patient_mrn": "DEP-1"}
    created = token_client(alice).post("/api/v1/studies/", payload, format="multipart")
    assert created.status_code == 201, created.content
    study_id = created.json()["id"]
    assert Study.objects.get(id=study_id).department == paeds
    assert token_client(bob).get(f"/api/v1/studies/{study_id}/").status_code == 200


def test_readers_see_every_study_and_no_role_sees_nothing(
    carol: Any, admin_user: Any, nobody: Any, scene: Scene
) -> None:
    for reader in (carol, admin_user):
        assert _ids(token_client(reader).get("/api/v1/studies/")) == {str(scene.study.id)}
        assert token_client(reader).get(_urls(scene)["heatmap"]).status_code == 200
    response = token_client(nobody).get(_urls(scene)["study"])
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


# Routes that resolve the study before checking the role: a clinician who cannot see it gets 404, not 403.
SCOPE_BEFORE_ROLE = {"api-study-ehr-delivery-retry", "api-study-dicom-delivery-retry"}
DETAIL_CASES = [(r, m) for r in api_routes() if "<uuid:pk>" in r.route for m in r.methods]


@pytest.mark.parametrize(
    ("api_route", "method"), DETAIL_CASES, ids=[f"{r.name}-{m}" for r, m in DETAIL_CASES]
)
def test_every_detail_route_hides_other_clinicians_records(
    api_route: ApiRoute, method: str, alice: Any, bob: Any, scene: Scene
) -> None:
    """A new endpoint on a study or patient that forgets the scoping selector fails here."""
    kwargs: dict[str, Any] = {"pk": scene.patient.pk if "/patients/" in api_route.route else scene.study.pk}
    if "<uuid:image_id>" in api_route.route:
        kwargs["image_id"] = scene.study.images.get().pk
    if "<int:delivery_id>" in api_route.route:
        kwargs["delivery_id"] = 1
    if "<int:version>" in api_route.route:
        kwargs["version"] = 1
    response = token_client(bob).generic(method, reverse(api_route.name, kwargs=kwargs))
    expected = 404 if MATRIX[api_route.name][method][CLINICIAN] == ALLOWED else 403
    if api_route.name in SCOPE_BEFORE_ROLE:
        expected = 404
    assert response.status_code == expected, (api_route.name, method, response.status_code)
    assert not AuditEvent.objects.filter(actor=bob).exclude(action__startswith="auth.").exists()
