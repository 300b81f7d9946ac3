"""Fixtures of the DICOM tests: a real Orthanc (tests/pacs/orthanc.py) for every test here that asks."""

from __future__ import annotations

from tests.pacs.orthanc import orthanc  # noqa: F401  (the fixture)
