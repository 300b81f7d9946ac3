"""The shared Orthanc fixture starts a real PACS that stores over REST and answers DICOMweb."""

from __future__ import annotations

import json

from tests.fixtures.dicoms import pydicom_read, xray_dicom
from tests.pacs.orthanc import Orthanc


def test_orthanc_stores_and_answers_qido(orthanc: Orthanc) -> None:
    data = xray_dicom()
    uid = str(pydicom_read(data).StudyInstanceUID)
    assert orthanc.upload(data)["Status"] == "Success"
    assert [i["StudyInstanceUID"] for i in orthanc.instances()] == [uid]
    studies = json.loads(orthanc.request("GET", "/dicom-web/studies"))
    assert studies[0]["0020000D"]["Value"] == [uid]
