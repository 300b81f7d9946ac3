"""Several images per study: all stored, scoped and downloadable; the first the gate accepts is analysed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from diagnosis.models import Image, Study
from tests.conftest import xray_paths
from tests.fixtures.api import token_client

pytestmark = pytest.mark.django_db


def _file(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/jpeg")


def _stored_files() -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_upload_with_further_views_stores_each_image(alice: Any, bob: Any) -> None:
    frontal, lateral, other = xray_paths()[:3]
    payload = {"image": _file(frontal), "images": [_file(lateral), _file(other)], "patient_mrn": "MI-1"}
    response = token_client(alice).post("/api/v1/studies/", payload, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    study = Study.objects.get(id=body["id"])
    images = list(study.images.order_by("created_at"))
    assert [i.original_filename for i in images] == [frontal.name, lateral.name, other.name]
    assert [i["id"] for i in body["images"]] == [str(i.id) for i in images]
    assert body["image"]["id"] == str(images[0].id)
    assert images[1].meta["role"] == "additional" and "role" not in images[0].meta
    adds = AuditEvent.objects.filter(action="study.image_add", actor=alice)
    assert sorted(adds.values_list("object_id", flat=True)) == sorted(str(i.id) for i in images[1:])
    assert len(_stored_files()) == 3

    lateral_url = body["images"][1]["url"]
    download = token_client(alice).get(lateral_url)
    assert download.status_code == 200 and download["Cache-Control"] == "private, no-store"
    assert b"".join(download.streaming_content) == lateral.read_bytes()
    assert AuditEvent.objects.filter(action="image.download", object_id=str(images[1].id)).count() == 1
    refused = token_client(bob).get(lateral_url)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


def test_repeated_image_field_keeps_upload_order(alice: Any) -> None:
    first, second = xray_paths()[:2]
    payload = {"image": [_file(first), _file(second)], "patient_mrn": "MI-2"}
    response = token_client(alice).post("/api/v1/studies/", payload, format="multipart")
    assert response.status_code == 201, response.content
    names = [i["filename"] for i in response.json()["images"]]
    assert names == [first.name, second.name]
    assert response.json()["image"]["filename"] == first.name


def test_a_bad_further_view_refuses_the_whole_upload(alice: Any) -> None:
    bad = SimpleUploadedFile("notes.pdf", b"%PDF-1.7 not an x-ray", content_type="application/pdf")
    payload = {"image": _file(xray_paths()[0]), "images": [bad], "patient_mrn": "MI-3"}
    response = token_client(alice).post("/api/v1/studies/", payload, format="multipart")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_format" and "notes.pdf" in error["fields"]["images"][0]
    assert not Study.objects.exists() and not Image.objects.exists() and _stored_files() == []
    assert not AuditEvent.objects.filter(action__startswith="study.").exists()


@pytest.mark.parametrize("field", ["image", "images"])
def test_more_than_four_images_is_400(alice: Any, field: str) -> None:
    paths = xray_paths()[:5]
    assert len(paths) == 5
    payload: dict[str, Any] = {"patient_mrn": "MI-4"}
    if field == "image":
        payload["image"] = [_file(p) for p in paths]
    else:
        payload.update(image=_file(paths[0]), images=[_file(p) for p in paths[1:]])
    response = token_client(alice).post("/api/v1/studies/", payload, format="multipart")
    assert response.status_code == 400, response.content
    assert "images" in response.json()["error"]["fields"]
    assert not Study.objects.exists() and _stored_files() == []


def test_idempotent_retry_with_several_images_returns_the_same_study(alice: Any) -> None:
    client = token_client(alice)
    paths = xray_paths()[:2]

    def post() -> Any:
        payload = {"image": _file(paths[0]), "images": [_file(paths[1])], "patient_mrn": "MI-5"}
        return client.post("/api/v1/studies/", payload, format="multipart", HTTP_IDEMPOTENCY_KEY="retry-1")

    first, again = post(), post()
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Study.objects.count() == 1 and Image.objects.count() == 2
