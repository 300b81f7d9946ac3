"""The diagnostic viewer's full-resolution pixels: decoding (mlcore.viewer_pixels) and the audited endpoint."""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import Any

import numpy as np
import pydicom
import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image as PILImage
from pydicom.dataset import Dataset

from audit.models import AuditEvent
from diagnosis.services.studies import StudyUpload, study_create
from mlcore.errors import InvalidImage
from mlcore.viewer_pixels import decode_viewer_pixels
from tests.diagnosis.factories import ImageFactory, film_study
from tests.fixtures.dicoms import make_dicom, xray_pixels
from tests.fixtures.pages import client_for
from tests.fixtures.viewer_dicoms import CURRENT, PRIOR


def unpack(body: bytes) -> tuple[dict[str, Any], np.ndarray]:
    """The wire format as the browser reads it: zlib, u32 header length, JSON header, pixels."""
    raw = zlib.decompress(body)
    (length,) = struct.unpack("<I", raw[:4])
    header = json.loads(raw[4 : 4 + length])
    dtype = "<i2" if header["dtype"] == "int16" else "<u2"
    pixels = np.frombuffer(raw[4 + length :], dtype=dtype).reshape(header["height"], header["width"])
    return header, pixels


def test_a_16_bit_film_keeps_its_stored_values_window_and_pixel_spacing() -> None:
    data = CURRENT.read_bytes()
    header, pixels = unpack(decode_viewer_pixels(data).encode())
    stored = pydicom.dcmread(io.BytesIO(data)).pixel_array
    assert np.array_equal(pixels, stored) and stored.max() > 255  # 16 bits reach the browser, not 8
    assert header["windows"][0] == {"center": 36000.0, "width": 40000.0, "source": "WindowCenter/Width"}
    assert header["windows"][-1]["source"] == "full range"
    assert header["pixel_spacing"] == [0.25, 0.25] and header["spacing_source"] == "PixelSpacing"
    assert header["photometric"] == "MONOCHROME2" and header["bits_stored"] == 16
    assert (header["width"], header["height"]) == (320, 256)


def test_a_monochrome1_film_with_rescale_and_no_window_starts_on_its_full_modality_range() -> None:
    header, pixels = unpack(decode_viewer_pixels(PRIOR.read_bytes()).encode())
    assert header["photometric"] == "MONOCHROME1" and (header["slope"], header["intercept"]) == (2.0, -1000.0)
    low, high = int(pixels.min()) * 2 - 1000, int(pixels.max()) * 2 - 1000
    (window,) = header["windows"]
    assert window == {"center": (low + high + 1) / 2, "width": high - low + 1, "source": "full range"}
    assert header["pixel_spacing"] == [0.2, 0.2] and header["spacing_source"] == "ImagerPixelSpacing"


def test_bits_above_bits_stored_are_cleared_and_several_windows_are_all_offered() -> None:
    pixels = xray_pixels(12) | np.uint16(0xF000)  # overlay bits set above the 12 stored
    ds = pydicom.dcmread(io.BytesIO(make_dicom(pixels, bits_stored=12)))
    ds.WindowCenter, ds.WindowWidth = [2048, 1000], [4096, 800]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    header, values = unpack(decode_viewer_pixels(out.getvalue()).encode())
    assert int(values.max()) <= 4095
    assert [(w["center"], w["width"]) for w in header["windows"][:2]] == [(2048, 4096), (1000, 800)]


def test_a_voi_lut_table_starts_the_window_on_the_range_it_covers() -> None:
    ds = pydicom.dcmread(io.BytesIO(make_dicom(xray_pixels(12), bits_stored=12)))
    lut = Dataset()
    lut.LUTDescriptor, lut.LUTData = [1024, 1500, 16], np.arange(1024, dtype="<u2").tobytes()
    ds.VOILUTSequence = [lut]
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    header = decode_viewer_pixels(out.getvalue()).header()
    assert header["windows"][0] == {"center": 1500 + 512, "width": 1024.0, "source": "VOI LUT"}
    # The table itself travels too, read through pydicom: the browser starts on it.
    assert header["voi_lut"] == {"first": 1500, "bits": 16, "data": list(range(1024))}


def test_rasters_full_size_8_bit_as_stored_and_16_bit_png_on_its_range() -> None:
    gray = np.tile(np.arange(200, dtype=np.uint8), (100, 1))
    out = io.BytesIO()
    PILImage.fromarray(gray, mode="L").save(out, format="PNG")
    header, values = unpack(decode_viewer_pixels(out.getvalue()).encode())
    assert np.array_equal(values, gray) and header["windows"][0]["source"] == "as stored"
    deep = (np.tile(np.arange(200, dtype=np.uint16), (100, 1)) * 300).astype(np.uint16)
    out = io.BytesIO()
    PILImage.fromarray(deep).save(out, format="PNG")
    header, values = unpack(decode_viewer_pixels(out.getvalue()).encode())
    assert np.array_equal(values, deep) and header["bits_stored"] == 16
    assert header["windows"][0]["source"] == "full range" and header["pixel_spacing"] is None


def test_bytes_that_are_not_an_image_are_refused_with_a_reason() -> None:
    with pytest.raises(InvalidImage):
        decode_viewer_pixels(b"GIF89a" + b"\0" * 64)


# --- the endpoint ---------------------------------------------------------------------------------------


def test_a_reader_gets_the_pixels_privately_and_the_view_is_audited(alice: Any, carol: Any) -> None:
    study = film_study(created_by=alice, data=CURRENT.read_bytes())
    for user in (alice, carol):
        response = client_for(user).get(reverse("study-pixels", args=[study.id]))
        assert response.status_code == 200
        assert (
            response["Cache-Control"] == "private, no-store"
            and response["X-Content-Type-Options"] == "nosniff"
        )
        header, pixels = unpack(response.content)
        assert header["windows"][0]["center"] == 36000.0 and pixels.shape == (256, 320)
        event = AuditEvent.objects.filter(actor=user, action="image.view").get()
        assert event.after["resolution"] == "full" and event.after["study"] == str(study.id)


def test_someone_elses_study_answers_like_a_missing_one_and_no_role_is_refused(
    alice: Any, bob: Any, nobody: Any, client: Any
) -> None:
    study = film_study(created_by=alice, data=CURRENT.read_bytes())
    url = reverse("study-pixels", args=[study.id])
    assert client_for(bob).get(url).status_code == 404
    missing = reverse("study-pixels", args=["00000000-0000-0000-0000-000000000000"])
    assert client_for(bob).get(missing).status_code == 404
    assert client_for(nobody).get(url).status_code == 403
    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert not AuditEvent.objects.filter(action="image.view").exists()


def test_a_stored_file_the_viewer_cannot_read_answers_422_not_500(alice: Any) -> None:
    study = film_study(created_by=alice, data=CURRENT.read_bytes())
    image = study.images.get()
    image.file.save("junk.dcm", ContentFile(b"\0" * 128 + b"DICM" + b"\xff" * 40), save=True)
    response = client_for(alice).get(reverse("study-pixels", args=[study.id]))
    assert response.status_code == 422 and b"damaged" in response.content
    assert not AuditEvent.objects.filter(action="image.view").exists()
    preview = client_for(alice).get(reverse("study-image", args=[study.id]))  # the preview too: not a 500
    assert preview.status_code == 422 and preview["Content-Type"].startswith("text/plain")


def test_only_data_that_halves_is_compressed_noisy_16_bit_goes_stored() -> None:
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 65535, size=(300, 400), dtype=np.uint16)
    stored = decode_viewer_pixels(make_dicom(noisy, bits_stored=16)).encode()
    assert len(stored) > noisy.nbytes  # stored blocks: no CPU spent on a film that does not shrink
    assert np.array_equal(unpack(stored)[1], noisy)
    smooth = np.tile(np.arange(400, dtype=np.uint16) * 100, (300, 1))
    assert len(decode_viewer_pixels(make_dicom(smooth, bits_stored=16)).encode()) < smooth.nbytes / 2


def test_an_uploaded_16_bit_dicom_is_stored_de_identified_and_served_with_its_values_window_and_spacing(
    alice: Any,
) -> None:
    data = CURRENT.read_bytes()
    upload = StudyUpload(
        image_name="film.dcm", image_data=data, patient_mrn="MRN-0042", patient_name="Jane Doe"
    )
    study = study_create(user=alice, upload=upload).study
    image = study.images.get()
    with image.file.open("rb") as handle:
        assert image.deidentified and b"Doe^Jane" not in handle.read()
    header, pixels = unpack(client_for(alice).get(reverse("study-pixels", args=[study.id])).content)
    assert np.array_equal(pixels, pydicom.dcmread(io.BytesIO(data)).pixel_array)
    assert header["windows"][0]["source"] == "WindowCenter/Width" and header["pixel_spacing"] == [0.25, 0.25]


def two_view_study(alice: Any) -> tuple[Any, Any]:
    """A 16-bit frontal film (analysed) with a second view (the 12-bit MONOCHROME1 film) on the same study."""
    study = film_study(created_by=alice, data=CURRENT.read_bytes())
    data = PRIOR.read_bytes()
    lateral = ImageFactory(
        study=study,
        format="DICOM",
        file=ContentFile(data, name="lat.dcm"),
        size_bytes=len(data),
        meta={"view_position": "LL"},
    )
    return study, lateral


def test_each_view_of_a_study_has_its_own_preview_and_pixels_scoped_and_audited(
    alice: Any, bob: Any, carol: Any
) -> None:
    study, lateral = two_view_study(alice)
    url = reverse("study-view-pixels", args=[study.id, lateral.id])
    header, _ = unpack(client_for(carol).get(url).content)
    assert header["photometric"] == "MONOCHROME1" and header["bits_stored"] == 12
    assert AuditEvent.objects.get(action="image.view", actor=carol).object_id == str(lateral.id)
    preview = client_for(carol).get(reverse("study-view-image", args=[study.id, lateral.id]))
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    elsewhere = film_study(created_by=alice, data=CURRENT.read_bytes()).images.get()
    assert (
        client_for(carol).get(reverse("study-view-pixels", args=[study.id, elsewhere.id])).status_code == 404
    )
    assert client_for(bob).get(url).status_code == 404
    assert AuditEvent.objects.filter(action="image.view").count() == 2  # the lateral's pixels and preview


def test_the_study_page_offers_every_view_and_marks_the_analysed_one(alice: Any, carol: Any) -> None:
    study, lateral = two_view_study(alice)
    body = client_for(carol).get(reverse("study-detail", args=[study.id])).content.decode()
    assert "View 1 · analysed by the AI" in body and "View 2 · LL" in body
    assert reverse("study-view-pixels", args=[study.id, lateral.id]) in body


# --- parts of a very large film: an overview and a region ----------------------------------------------------


def test_a_part_samples_the_stored_values_unchanged_and_says_where_it_sits() -> None:
    pixels = decode_viewer_pixels(CURRENT.read_bytes())
    header, overview = unpack(pixels.part(step=3).encode())
    assert np.array_equal(overview, pixels.values[::3, ::3])  # sampled, never averaged
    assert (header["width"], header["height"], header["step"]) == (107, 86, 3)
    assert (header["full_width"], header["full_height"], header["x"], header["y"]) == (320, 256, 0, 0)
    assert header["windows"] == pixels.header()["windows"]  # the whole film's windows
    header, region = unpack(pixels.part(box=(100, 50, 64, 40), step=1).encode())
    assert np.array_equal(region, pixels.values[50:90, 100:164])
    assert (header["x"], header["y"], header["width"], header["height"]) == (100, 50, 64, 40)
    for box, step in (((300, 0, 64, 10), 1), ((0, 0, 0, 10), 1), ((-1, 0, 5, 5), 1), (None, 0)):
        with pytest.raises(InvalidImage, match="not inside"):
            pixels.part(box=box, step=step)


@pytest.mark.django_db
def test_the_endpoint_serves_an_overview_and_a_region_audited_and_refuses_bad_parts(alice: Any) -> None:
    study = film_study(created_by=alice, data=CURRENT.read_bytes())
    url = reverse("study-pixels", args=[study.id])
    client = client_for(alice)
    header, overview = unpack(client.get(url, {"step": 4}).content)
    assert overview.shape == (64, 80) and header["step"] == 4
    response = client.get(url, {"x": 10, "y": 20, "w": 30, "h": 40, "step": 2})
    header, region = unpack(response.content)
    assert response["Cache-Control"] == "private, no-store" and region.shape == (20, 15)
    stored = pydicom.dcmread(CURRENT).pixel_array
    assert np.array_equal(region, stored[20:60:2, 10:40:2])
    events = AuditEvent.objects.filter(actor=alice, action="image.view").order_by("id")
    assert [e.after.get("resolution") for e in events] == ["part", "part"]
    assert events.last().after["box"] == [10, 20, 30, 40] and events.last().after["step"] == 2
    bad = [
        {"step": "0"},
        {"step": "65"},
        {"step": "x"},
        {"x": "1"},
        {"step": "²"},
        {"x": "-1", "y": 0, "w": 1, "h": 1},
    ]
    for params in bad:
        answer = client.get(url, params)
        assert answer.status_code == 400 and answer["Content-Type"].startswith("text/plain"), params
    outside = client.get(url, {"x": 300, "y": 0, "w": 64, "h": 64})
    assert outside.status_code == 400 and b"not inside the 320x256 image" in outside.content
    assert AuditEvent.objects.filter(action="image.view").count() == 2  # refusals are not views
