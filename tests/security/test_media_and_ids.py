"""Private media (never a public path, audited, not cached) and IDs that neither guess nor leak existence."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles import finders
from django.core.files.base import ContentFile
from django.urls import Resolver404, resolve

from audit.models import AuditEvent
from diagnosis.models import Image, Patient, Prediction, Study
from tests.diagnosis.factories import completed_study, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_study(alice):
    """A completed study of Alice's with a stored image and heatmap."""
    study = completed_study(created_by=alice)
    prediction = study.predictions.get()
    prediction.heatmap.save("h.png", ContentFile(png_bytes(64, 200)), save=True)
    return study


def test_no_url_serves_media_root(alices_study, client, alice):
    image = alices_study.images.get()
    client.force_login(alice)
    for prefix in ("/media/", "/static/", "/", "/var/media/", "/test-media/"):
        response = client.get(prefix + image.file.name)
        assert response.status_code == 404 and response.content != image.file.open("rb").read()
    with pytest.raises(Resolver404):
        resolve("/media/" + image.file.name)


def test_media_root_is_outside_every_static_location():
    media = Path(django_settings.MEDIA_ROOT).resolve()
    statics = [
        Path(django_settings.STATIC_ROOT).resolve(),
        *(Path(d).resolve() for d in django_settings.STATICFILES_DIRS),
    ]
    for static in statics:
        assert not media.is_relative_to(static) and not static.is_relative_to(media)
    # MEDIA_URL is never routed: no URL pattern mentions it, and the static handler serves only STATIC_URL.
    from portal.urls import urlpatterns

    assert not any("media" in str(p.pattern).lower() for p in urlpatterns)


def test_uploaded_files_are_not_findable_as_static(alices_study):
    name = alices_study.images.get().file.name
    assert finders.find(name) is None and finders.find(Path(name).name) is None


@pytest.mark.parametrize("path", ["/api/v1/studies/{id}/image/", "/api/v1/studies/{id}/heatmap/"])
def test_media_views_are_private_no_store_and_audited(api, alice, alices_study, path):
    api.force_authenticate(alice)
    response = api.get(path.format(id=alices_study.id))
    assert response.status_code == 200
    assert (
        response["Cache-Control"] == "private, no-store" and response["X-Content-Type-Options"] == "nosniff"
    )
    assert b"".join(response.streaming_content)[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
    action = "heatmap.download" if "heatmap" in path else "image.download"
    assert AuditEvent.objects.filter(action=action, actor=alice).count() == 1


@pytest.mark.parametrize("page", ["/studies/{id}/image/", "/studies/{id}/heatmap/"])
def test_page_media_views_are_private_no_store_and_audited(client, alice, alices_study, page):
    client.force_login(alice)
    response = client.get(page.format(id=alices_study.id))
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    assert AuditEvent.objects.filter(action__in=["image.view", "heatmap.download"], actor=alice).count() == 1


def test_ids_are_random_uuid4(alice):
    studies = [completed_study(created_by=alice) for _ in range(3)]
    for model in (Study, Patient, Image, Prediction):
        for pk in model.objects.values_list("id", flat=True):
            assert isinstance(pk, uuid.UUID) and pk.version == 4
    ints = [s.id.int for s in studies]
    assert len({b - a for a, b in zip(ints, ints[1:], strict=False)}) == 2  # no arithmetic progression


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/studies/{id}/",
        "/api/v1/studies/{id}/image/",
        "/api/v1/studies/{id}/heatmap/",
        "/api/v1/studies/{id}/cancel/",
    ],
)
def test_someone_elses_study_answers_exactly_like_a_missing_one(api, bob, alices_study, path):
    """Bob (another clinician) cannot tell Alice's study from an id that does not exist."""
    api.force_authenticate(bob)
    method = api.post if path.endswith("cancel/") else api.get
    forbidden = method(path.format(id=alices_study.id))
    missing = method(path.format(id=uuid.uuid4()))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json() and forbidden.json()["error"]["code"] == "not_found"
    assert dict(forbidden.headers).keys() == dict(missing.headers).keys()
    assert not AuditEvent.objects.filter(actor=bob).exclude(action__startswith="auth.").exists()


@pytest.mark.parametrize("page", ["/studies/{id}/", "/studies/{id}/image/", "/studies/{id}/heatmap/"])
def test_pages_answer_others_and_missing_studies_the_same(client, bob, alices_study, page):
    client.force_login(bob)
    forbidden = client.get(page.format(id=alices_study.id))
    missing = client.get(page.format(id=uuid.uuid4()))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content


def test_someone_elses_patient_answers_like_a_missing_one(api, bob, alices_study):
    api.force_authenticate(bob)
    forbidden = api.get(f"/api/v1/patients/{alices_study.patient_id}/")
    missing = api.get(f"/api/v1/patients/{uuid.uuid4()}/")
    assert forbidden.status_code == missing.status_code == 404 and forbidden.json() == missing.json()


@pytest.mark.parametrize("bad", ["1", "00000000-0000-0000-0000-000000000001x", "..%2F..%2Fetc", "%00"])
def test_non_uuid_ids_are_plain_404s(api, alice, bad):
    api.force_authenticate(alice)
    response = api.get(f"/api/v1/studies/{bad}/")
    assert response.status_code == 404 and b"Traceback" not in response.content


def test_lists_do_not_leak_other_peoples_studies(api, bob, alices_study):
    api.force_authenticate(bob)
    body = api.get("/api/v1/studies/").json()
    assert body["count"] == 0 and str(alices_study.id) not in str(body)
    assert api.get(f"/api/v1/studies/?patient={alices_study.patient_id}").json()["count"] == 0


def test_api_never_reveals_storage_paths(api, alice, alices_study, settings):
    api.force_authenticate(alice)
    image = alices_study.images.get()
    heatmap = alices_study.predictions.get().heatmap.name
    for path in (f"/api/v1/studies/{alices_study.id}/", "/api/v1/studies/"):
        text = api.get(path).content.decode()
        assert str(settings.MEDIA_ROOT) not in text and image.file.name not in text and heatmap not in text
