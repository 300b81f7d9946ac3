"""The same hostile corpus through the HTML upload form: a clear message on the page, never a 500."""

from __future__ import annotations

import html

import pytest

from diagnosis.models import Image, Study
from tests.fixtures.hostile import EXPECTED
from tests.hostile.checks import assert_media_matches_rows
from tests.hostile.multipart import multipart
from tests.hostile.test_api_corpus import REFUSED, corpus

pytestmark = pytest.mark.django_db


def post_page(client, user, filename: bytes, data: bytes, **fields: str):
    client.force_login(user)
    body, content_type = multipart(
        {"patient_mrn": "MRN-PG1", "priority": "routine", **fields}, [("image", filename, data)]
    )
    return client.post("/studies/new/", data=body, content_type=content_type)


@pytest.mark.parametrize("kind", REFUSED)
def test_refused_kind_is_shown_on_the_form_and_stores_nothing(client, alice, settings, kind):
    filename, data = corpus()[kind]
    response = post_page(client, alice, filename.encode(), data)
    assert response.status_code == 400, EXPECTED[kind]
    page = html.unescape(response.content.decode())
    assert "Traceback" not in page and 'aria-invalid="true"' in page
    assert not Study.objects.exists() and not Image.objects.exists()
    assert_media_matches_rows(settings)


@pytest.mark.parametrize(
    "filename", [b"../../etc/passwd.jpg", b"a\x00b.jpg", b"r\xf6ntgen.jpg", b"x" * 5000 + b".jpg"]
)
def test_hostile_file_names_on_the_form_never_500(client, alice, settings, xray_bytes, filename):
    response = post_page(client, alice, filename, xray_bytes)
    assert response.status_code in (302, 400) and b"Traceback" not in response.content
    assert Study.objects.count() == Image.objects.count() == (1 if response.status_code == 302 else 0)
    assert_media_matches_rows(settings)


def test_oversize_on_the_form_names_the_limit(client, alice, settings, xray_bytes):
    settings.AIRSPACE_MAX_UPLOAD_BYTES = 1000
    response = post_page(client, alice, b"chest.jpg", xray_bytes)
    assert response.status_code == 400 and "upload limit" in html.unescape(response.content.decode())
    assert not Study.objects.exists()
