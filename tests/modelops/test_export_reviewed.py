"""export_reviewed: a de-identified labelled data set (no names, MRNs, dates, notes), audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re

import pydicom
import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from audit.models import AuditEvent
from diagnosis.models import Study
from diagnosis.services.studies import StudyUpload, study_create
from reading.services.reviews import review_submit
from tests.conftest import xray_paths
from tests.diagnosis.factories import PredictionFactory
from tests.fixtures.dicoms import xray_dicom

pytestmark = pytest.mark.django_db

IDENTIFIERS = [
    b"Doe",
    b"Jane",
    b"MRN-0042",
    b"ACC123",
    b"ACC-9",
    b"cough",
    b"Guangzhou",
    b"House",
    b"20200102",
    b"20250301",
    b"alice",
    b"carol",
    b"MRN-77",
    b"Smith",
]


def jpeg_with_exif() -> bytes:
    """A real X-ray as JPEG whose EXIF names the patient."""
    with PILImage.open(xray_paths()[0]) as image:
        exif = PILImage.Exif()
        exif[0x010E] = "Doe^Jane MRN-0042"  # ImageDescription
        exif[0x013B] = "Jane Doe"  # Artist
        out = io.BytesIO()
        image.convert("L").save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def completed(user, data: bytes, *, mrn: str, name: str, label: str, probability: float, **fields) -> Study:
    upload = StudyUpload(
        image_name=f"{name}.img", image_data=data, patient_mrn=mrn, patient_name=name, **fields
    )
    study = study_create(user=user, upload=upload).study
    Study.objects.filter(id=study.id).update(status=Study.Status.COMPLETED)
    PredictionFactory(
        study=study,
        image=study.images.get(),
        probability=probability,
        label=label,
        model_version="v1",
        threshold=0.5,
    )
    return Study.objects.get(id=study.id)


@pytest.fixture
def reviewed(alice, carol, settings):
    settings.AIRSPACE_DEIDENTIFY_DICOM = False  # stored with identifiers: the export must remove them
    jpeg = completed(
        alice,
        jpeg_with_exif(),
        mrn="MRN-0042",
        name="Jane Doe",
        label="PNEUMONIA",
        probability=0.9,
        accession_number="ACC123",
        clinical_notes="Jane has a cough",
    )
    review_submit(user=carol, study=jpeg, decision="agree", note="Jane Doe, clear consolidation")
    dicom = completed(
        alice,
        xray_dicom(),
        mrn="MRN-0042",
        name="Jane Doe",
        label="NORMAL",
        probability=0.2,
        accession_number="ACC-9",
    )
    review_submit(
        user=carol, study=dicom, decision="override", final_label="PNEUMONIA", reason="missed_finding"
    )
    completed(
        alice, xray_paths()[1].read_bytes(), mrn="MRN-77", name="John Smith", label="NORMAL", probability=0.1
    )  # not reviewed: not exported
    return jpeg, dicom


def export(tmp_path, *args: str) -> tuple[str, list[dict[str, str]]]:
    out = io.StringIO()
    call_command("export_reviewed", "--out", str(tmp_path / "ds"), *args, stdout=out)
    with (tmp_path / "ds" / "labels.csv").open() as handle:
        return out.getvalue(), list(csv.DictReader(handle))


def test_export_contents_labels_and_no_identifiers(reviewed, tmp_path, admin_user):
    jpeg, dicom = reviewed
    # The stored originals do carry identifiers (EXIF, DICOM tags): the export must be what removes them.
    assert b"Doe^Jane" in jpeg.images.get().file.read() and b"Guangzhou" in dicom.images.get().file.read()
    stdout, rows = export(tmp_path, "--user", admin_user.username)
    assert stdout.startswith("Exported 2 reviewed studies (PNEUMONIA 2)")
    by_format = {row["format"]: row for row in rows}
    assert set(by_format) == {"PNG", "DICOM"}
    png, dcm = by_format["PNG"], by_format["DICOM"]
    assert (png["final_label"], png["review_decision"], png["ai_label"], png["ai_probability"]) == (
        "PNEUMONIA",
        "agree",
        "PNEUMONIA",
        "0.900000",
    )
    assert (dcm["final_label"], dcm["review_decision"], dcm["review_reason"], dcm["ai_label"]) == (
        "PNEUMONIA",
        "override",
        "missed_finding",
        "NORMAL",
    )
    assert {row["model_version"] for row in rows} == {"v1"}
    assert png["patient_group"] == dcm["patient_group"]  # same patient, so patient-level splits work
    assert all(re.fullmatch(r"images/[0-9a-f]{32}\.(png|dcm)", row["file"]) for row in rows)
    out_dir = tmp_path / "ds"
    secrets = [
        *IDENTIFIERS,
        *(str(s.id).encode() for s in reviewed),
        str(jpeg.patient_id).encode(),
        jpeg.images.get().sha256.encode(),
        dicom.images.get().sha256.encode(),
    ]
    for path in out_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked = [s for s in secrets if s in data]
            assert not leaked, f"{path.name} leaks {leaked}"
    header = (out_dir / "labels.csv").read_text().splitlines()[0]
    assert not any(word in header for word in ("date", "mrn", "name", "note", "accession"))


def test_images_are_clean_and_the_manifest_matches(reviewed, tmp_path):
    _, rows = export(tmp_path)
    out_dir = tmp_path / "ds"
    png_row = next(r for r in rows if r["format"] == "PNG")
    with PILImage.open(out_dir / png_row["file"]) as image:
        assert image.format == "PNG" and "exif" not in image.info and image.size[0] >= 64
    dcm_row = next(r for r in rows if r["format"] == "DICOM")
    ds = pydicom.dcmread(out_dir / dcm_row["file"])
    assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName) == "" and not ds.AccessionNumber
    assert ds.pixel_array.shape[0] >= 64
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert (
        manifest["studies"] == 2
        and manifest["labels"] == {"PNEUMONIA": 2}
        and manifest["model_versions"] == ["v1"]
    )
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((out_dir / name).read_bytes()).hexdigest() == digest
    assert set(manifest["sha256"]) == {"labels.csv", *(r["file"] for r in rows)}


def test_export_is_audited_and_refuses_a_used_folder(reviewed, tmp_path, admin_user):
    export(tmp_path, "--user", admin_user.username)
    event = AuditEvent.objects.get(action="dataset.export")
    manifest_sha = hashlib.sha256((tmp_path / "ds" / "manifest.json").read_bytes()).hexdigest()
    assert event.actor == admin_user and event.after["studies"] == 2
    assert event.after["manifest_sha256"] == manifest_sha and event.after["labels"] == {"PNEUMONIA": 2}
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_reviewed", "--out", str(tmp_path / "ds"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="No user"):
        call_command(
            "export_reviewed", "--out", str(tmp_path / "other"), "--user", "ghost", stdout=io.StringIO()
        )
    assert AuditEvent.objects.filter(action="dataset.export").count() == 1


def test_filters_and_amendments(reviewed, tmp_path, dave):
    jpeg, _ = reviewed
    review_submit(
        user=dave,
        study=jpeg,
        decision="override",
        final_label="NORMAL",
        reason="false_alarm",
        amendment_reason="second read",
    )
    _, rows = export(tmp_path)
    png = next(r for r in rows if r["format"] == "PNG")
    assert (png["final_label"], png["review_version"], png["review_reason"]) == ("NORMAL", "2", "false_alarm")
    out = io.StringIO()
    call_command("export_reviewed", "--out", str(tmp_path / "none"), "--model-version", "v2", stdout=out)
    assert out.getvalue().startswith("Exported 0 reviewed studies")
    assert (tmp_path / "none" / "labels.csv").read_text().count("\n") == 1  # header only
