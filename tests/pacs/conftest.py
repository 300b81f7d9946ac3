"""Fixtures of the DICOM tests: a real Orthanc (tests/pacs/orthanc.py) and the real receiver with DCMTK as
the modality (tests/pacs/listener.py), for every test here that asks."""

from __future__ import annotations

from tests.pacs.listener import dicom_listener  # noqa: F401  (the fixture)
from tests.pacs.orthanc import orthanc  # noqa: F401  (the fixture)
