"""The DICOM receiver for real: `dicom_listen` as a subprocess, DCMTK storescu/echoscu as the modality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from audit.models import AuditEvent
from diagnosis.models import Department, Image, Study
from pacs.models import InboundStudy, ReceivedInstance
from pacs.services.assembly import inbound_study_release
from pacs.services.nodes import NodeSpec, dicom_node_add
from tests.fixtures.pacs_dicoms import FOLDER
from tests.pacs.listener import Listener

pytestmark = pytest.mark.slow


def _inbox_files(settings: Any) -> list[Path]:
    return sorted((Path(settings.MEDIA_ROOT) / "dicom-inbox").glob("*"))


def _node(ae: str = "XRAY1", host: str = "127.0.0.1") -> Any:
    Department.objects.get_or_create(name="Paediatrics")
    return dicom_node_add(
        spec=NodeSpec(
            name=ae.lower(), ae_title=ae, host=host, port=104, inbound=True, department="Paediatrics"
        )
    )


def test_unknown_ae_and_wrong_host_are_refused_at_association(dicom_listener: Listener) -> None:
    _node("XRAY1", host="10.9.9.9")  # registered, but at another address
    for calling in ("STRANGER", "XRAY1"):
        echo = dicom_listener.echoscu(calling)
        assert echo.returncode != 0
        assert "Association Rejected" in echo.stderr + echo.stdout
        sent = dicom_listener.storescu(calling, FOLDER / "chest_dx_child.dcm")
        assert sent.returncode != 0
    assert not ReceivedInstance.objects.exists() and not Study.objects.exists()
    refused = AuditEvent.objects.filter(action="dicom.association_refused")
    assert {e.after["calling_ae_title"] for e in refused} == {"STRANGER", "XRAY1"}


def test_a_registered_node_echoes(dicom_listener: Listener) -> None:
    _node()
    echo = dicom_listener.echoscu("XRAY1")
    assert echo.returncode == 0, echo.stderr
    assert "Received Echo Response (Success)" in echo.stderr + echo.stdout


def test_knee_dx_lateral_and_ct_are_acknowledged_and_recorded_as_ignored(dicom_listener: Listener) -> None:
    _node()
    files = [FOLDER / name for name in ("knee_dx.dcm", "ct_chest.dcm", "chest_dx_lateral.dcm")]
    sent = dicom_listener.storescu("XRAY1", *files)
    assert sent.returncode == 0, sent.stderr
    assert sent.stderr.count("Received Store Response (Success)") == 3, sent.stderr
    rows = {r.modality + "/" + r.body_part + "/" + r.view_position: r for r in ReceivedInstance.objects.all()}
    assert {k: (r.status, r.rule) for k, r in rows.items()} == {
        "DX/KNEE/AP": ("ignored", "body_part"),
        "CT/CHEST/": ("ignored", "sop_class"),
        "DX/CHEST/LL": ("ignored", "lateral_view"),
    }
    assert all(r.held_file == "" and r.image_id is None for r in rows.values())
    assert not Study.objects.exists() and not InboundStudy.objects.exists()
    events = AuditEvent.objects.filter(action="dicom.receive")
    assert events.count() == 3 and {e.actor_username for e in events} == {"dicom-node-xray1"}


def test_corrupt_instance_gets_a_failure_status_and_nothing_is_stored(
    dicom_listener: Listener, settings: Any
) -> None:
    _node()
    sent = dicom_listener.storescu("XRAY1", FOLDER / "corrupt_dx.dcm")
    output = sent.stderr + sent.stdout
    assert "Store Response (Success)" not in output
    assert "Received Store Response (Error: CannotUnderstand)" in output, output
    row = ReceivedInstance.objects.get()
    assert row.status == "failed" and "truncated" in row.reason and row.held_file == ""
    assert not _inbox_files(settings)
    assert not InboundStudy.objects.exists() and not Study.objects.exists() and not Image.objects.exists()


def test_child_chest_dx_is_held_then_filed_as_the_node_like_an_upload(
    dicom_listener: Listener, settings: Any
) -> None:
    node = _node()
    files = [FOLDER / "chest_dx_child.dcm", FOLDER / "chest_dx_child_2.dcm"]
    sent = dicom_listener.storescu("XRAY1", *files)
    assert sent.returncode == 0 and sent.stderr.count("Store Response (Success)") == 2, sent.stderr
    inbound = InboundStudy.objects.get()
    assert inbound.state == "collecting" and inbound.instances.exclude(held_file="").count() == 2
    # Held encrypted until filed: no identifier readable on disk.
    held = _inbox_files(settings)
    assert len(held) == 2 and not any(
        b"PACS-0001" in p.read_bytes() or b"Lee^Amy" in p.read_bytes() for p in held
    )
    # A resend of the same instance is acknowledged and kept once.
    assert dicom_listener.storescu("XRAY1", files[0]).returncode == 0
    assert ReceivedInstance.objects.count() == 2

    release = inbound_study_release(
        inbound_study_id=inbound.id, now=inbound.last_received_at + dt.timedelta(seconds=30)
    )
    study = release.study
    assert study is not None
    study.refresh_from_db()
    assert (study.source, study.study_instance_uid) == ("dicom", inbound.study_instance_uid)
    assert study.department.name == "Paediatrics" and study.created_by == node.service_user
    assert (study.accession_number, study.study_date) == ("ACC-9001", dt.date(2025, 3, 1))
    assert study.clinical_notes == "XR CHEST AP" and study.status == "queued"
    patient = study.patient
    assert (patient.mrn, patient.name, patient.birth_date, patient.sex) == (
        "PACS-0001",
        "Amy Lee",
        dt.date(2021, 3, 1),
        "F",
    )
    images = list(study.images.order_by("created_at"))
    assert len(images) == 2 and all(image.deidentified for image in images)
    stored = images[0].file.read()
    assert (
        b"Lee^Amy" not in stored
        and b"PACS-0001" not in stored
        and inbound.study_instance_uid.encode() not in stored
    )
    rows = list(ReceivedInstance.objects.order_by("id"))
    assert [r.image_id for r in rows] == [i.id for i in images] and all(r.held_file == "" for r in rows)
    assert not _inbox_files(settings)
    upload = AuditEvent.objects.get(action="study.upload", object_id=str(study.id))
    assert upload.actor_id == node.service_user.id and upload.after["source"] == "dicom"

    # A later instance of the filed study is added and shown, and the study is not analysed again.
    late = dicom_listener.storescu("XRAY1", FOLDER / "chest_dx_lateral.dcm")  # ignored by rule, not added
    assert late.returncode == 0
    from tests.fixtures.pacs_dicoms import fixture, with_new_uids

    extra = FOLDER.parent / "pacs-late.dcm"
    extra.write_bytes(with_new_uids(fixture("chest_dx_child_2.dcm"), study_uid=inbound.study_instance_uid))
    try:
        assert dicom_listener.storescu("XRAY1", extra).returncode == 0
    finally:
        extra.unlink()
    assert study.images.count() == 3
    study.refresh_from_db()
    assert study.status == "queued" and InboundStudy.objects.count() == 1
    assert AuditEvent.objects.filter(action="study.image_add", after__after_analysis=True).count() == 1


@pytest.mark.django_db
def test_the_original_identity_and_uids_of_a_filed_study_are_kept_for_the_results() -> None:
    from pacs.services.receive import Sender, instance_receive
    from pacs.services.result_objects import analysed_image, study_identity
    from tests.fixtures.dicoms import pydicom_read
    from tests.fixtures.pacs_dicoms import fixture

    node = _node()
    data = fixture("chest_dx_child.dcm")
    assert instance_receive(data=data, sender=Sender(user=node.service_user, node=node)).status == "accepted"
    inbound = InboundStudy.objects.get()
    study = inbound_study_release(
        inbound_study_id=inbound.id, now=inbound.last_received_at + dt.timedelta(seconds=9)
    ).study
    original = pydicom_read(data)
    identity = study_identity(study)
    assert identity.study_instance_uid == original.StudyInstanceUID
    assert (identity.patient_id, identity.patient_name, identity.patient_sex) == ("PACS-0001", "Lee^Amy", "F")
    assert (identity.patient_birth_date, identity.study_date) == (dt.date(2021, 3, 1), dt.date(2025, 3, 1))
    assert (identity.accession_number, identity.study_id, identity.study_time) == (
        "ACC-9001",
        "S9001",
        "101500",
    )
    assert (identity.referring_physician_name, identity.study_description) == ("Grey^Meredith", "XR CHEST AP")
    image = analysed_image(study.images.get())
    assert (image.sop_instance_uid, image.series_instance_uid, image.sop_class_uid) == (
        original.SOPInstanceUID,
        original.SeriesInstanceUID,
        original.SOPClassUID,
    )


def test_compressed_transfer_syntaxes_are_received_and_decoded(
    dicom_listener: Listener, tmp_path: Path
) -> None:
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless

    from tests.fixtures.dicoms import gdcm_compressed, make_dicom, xray_pixels
    from tests.fixtures.pacs_dicoms import fixture, with_new_uids

    _node()
    source = fixture("chest_dx_child.dcm")
    # Each syntax with the storescu option that proposes it first (DCMTK then sends the file as it is).
    flags = {JPEGLosslessSV1: "-xs", JPEGLSLossless: "-xt", JPEG2000Lossless: "-xv", RLELossless: "-xr"}
    encoded = {syntax: gdcm_compressed(source, syntax) for syntax in flags}
    encoded[JPEGBaseline8Bit] = make_dicom(xray_pixels(12), transfer_syntax=JPEGBaseline8Bit)
    flags[JPEGBaseline8Bit] = "-xy"
    for index, (syntax, data) in enumerate(encoded.items()):
        path = tmp_path / f"{index}.dcm"
        path.write_bytes(with_new_uids(data, BodyPartExamined="CHEST"))
        sent = dicom_listener.storescu("XRAY1", path, extra=(flags[syntax],))
        assert sent.returncode == 0 and "Store Response (Success)" in sent.stderr, sent.stderr
    assert {r.transfer_syntax_uid for r in ReceivedInstance.objects.all()} == set(encoded)
    for inbound in InboundStudy.objects.all():
        later = inbound.last_received_at + dt.timedelta(seconds=9)
        release = inbound_study_release(inbound_study_id=inbound.id, now=later)
        assert release.study is not None, release.error
        image = release.study.images.get()
        assert image.format == "DICOM" and image.width > 100 and image.deidentified


def test_past_the_per_association_limit_stores_are_refused_out_of_resources(
    services: None, transactional_db: None, settings: Any, tmp_path: Path
) -> None:
    from tests.pacs.listener import listener_start, listener_stop

    _node()
    listener = listener_start(settings, tmp_path, {"AIRSPACE_DICOM_MAX_INSTANCES_PER_ASSOCIATION": "2"})
    try:
        files = [FOLDER / name for name in ("knee_dx.dcm", "ct_chest.dcm", "chest_dx_lateral.dcm")]
        sent = listener.storescu("XRAY1", *files)
    finally:
        listener_stop(listener)
    assert sent.stderr.count("Store Response (Success)") == 2, sent.stderr
    assert "Received Store Response (Refused: OutOfResources)" in sent.stderr, sent.stderr
    assert ReceivedInstance.objects.count() == 2  # the third was refused before anything was written


def test_an_idle_association_is_dropped(
    services: None, transactional_db: None, settings: Any, tmp_path: Path
) -> None:
    import time

    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    from tests.pacs.listener import listener_start, listener_stop

    _node()
    listener = listener_start(settings, tmp_path, {"AIRSPACE_DICOM_IDLE_SECONDS": "2"})
    try:
        modality = AE(ae_title="XRAY1")
        modality.add_requested_context(Verification)
        assoc = modality.associate("127.0.0.1", listener.port, ae_title="AIRSPACE")
        assert assoc.is_established and assoc.send_c_echo().Status == 0x0000
        deadline = time.monotonic() + 15
        while assoc.is_alive() and time.monotonic() < deadline:  # say nothing: the receiver must hang up
            time.sleep(0.2)
        assert not assoc.is_established and (assoc.is_aborted or assoc.is_released)
    finally:
        listener_stop(listener)
