"""The coded concepts of Airspace's result objects (SNOMED CT, DICOM DCM, LOINC, UCUM, and our own 99AIRSPACE).

Concepts no standard coding scheme has (the calibrated probability, the operating point, the agreement with
the AI) use the private coding scheme designator 99AIRSPACE, as PS3.16 8.2 allows; docs/DICOM.md lists them.
"""

from __future__ import annotations

from pydicom.sr.coding import Code

PRIVATE_SCHEME = "99AIRSPACE"

PNEUMONIA = Code("233604007", "SCT", "Pneumonia")
PRESENT = Code("52101004", "SCT", "Present")
ABSENT = Code("2667000", "SCT", "Absent")
YES = Code("373066001", "SCT", "Yes")
NO = Code("373067005", "SCT", "No")
CHEST_XRAY = Code("399208008", "SCT", "Plain X-ray of chest")
UNUSABLE = Code("111235", "DCM", "Unusable - Quality renders image unusable")

IMAGING_MEASUREMENT_REPORT = Code("126000", "DCM", "Imaging Measurement Report")
DIAGNOSTIC_IMAGING_REPORT = Code("18748-4", "LN", "Diagnostic imaging report")
FINDING = Code("121071", "DCM", "Finding")
COMMENT = Code("121106", "DCM", "Comment")
UNITLESS = Code("1", "UCUM", "no units")

PROBABILITY = Code("probability", PRIVATE_SCHEME, "Calibrated probability of pneumonia")
THRESHOLD = Code("operating-point", PRIVATE_SCHEME, "Operating point threshold")
INDETERMINATE = Code("indeterminate", PRIVATE_SCHEME, "Indeterminate AI result")
AI_AGREEMENT = Code("ai-agreement", PRIVATE_SCHEME, "Agreement with AI result")
AGREE = Code("agree", PRIVATE_SCHEME, "Agrees with AI result")
OVERRIDE = Code("override", PRIVATE_SCHEME, "Overrides AI result")
OVERRIDE_REASON = Code("override-reason", PRIVATE_SCHEME, "Reason for override")
AMENDMENT_REASON = Code("amendment-reason", PRIVATE_SCHEME, "Reason for amendment")
