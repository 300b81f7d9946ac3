"""Concurrent uploads on real PostgreSQL: the first uploads for a new MRN race to create the patient."""

from __future__ import annotations

import threading

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEvent
from diagnosis.models import Image, Patient, Study
from tests.hostile.checks import assert_media_matches_rows


def test_simultaneous_first_uploads_for_one_mrn_all_succeed_with_one_patient(
    services, transactional_db, alice, xray_bytes, settings
):
    """Found by bench/pipeline.py: the losing insert was an IntegrityError (a 500), and locking the existing
    patient FOR UPDATE deadlocked with the audit chain lock held by another upload at its commit."""
    barrier, codes = threading.Barrier(8), []

    def upload() -> None:
        client = APIClient()
        client.force_authenticate(alice)
        barrier.wait()
        response = client.post(
            "/api/v1/studies/",
            {"image": SimpleUploadedFile("x.jpg", xray_bytes), "patient_mrn": "MRN-RACE"},
            format="multipart",
        )
        codes.append(response.status_code)
        connection.close()

    # First the patient does not exist (racing inserts), then it does (racing readers + FK checks).
    for _ in range(2):
        threads = [threading.Thread(target=upload) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        barrier.reset()
    assert codes == [201] * 16
    assert Patient.objects.filter(mrn="MRN-RACE").count() == 1 and Study.objects.count() == 16
    assert Image.objects.count() == 16
    assert AuditEvent.objects.filter(action="patient.create").count() == 1
    assert_media_matches_rows(settings)
