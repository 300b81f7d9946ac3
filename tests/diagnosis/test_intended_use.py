"""Issue #16: adult/infant intended-use flags from the patient's age at the study date, for every format."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from diagnosis.models import Study
from diagnosis.services.predictions import prediction_run
from diagnosis.services.studies import StudyUpload, study_create
from mlcore.intended_use import age_flags_from_birth_date, age_flags_from_years, flag_notice
from tests.fixtures.dicoms import xray_dicom

BORN = dt.date(2010, 5, 17)


@pytest.mark.parametrize(
    ("on", "flags"),
    [
        (dt.date(2026, 5, 17), ()),  # 16th birthday: 16, not older than 16
        (dt.date(2026, 5, 18), ("adult_patient",)),
        (dt.date(2011, 5, 16), ("infant_patient",)),  # the day before the first birthday
        (dt.date(2011, 5, 17), ()),
        (dt.date(2013, 1, 1), ()),
    ],
)
def test_age_flags_at_the_boundaries(on, flags):
    assert age_flags_from_birth_date(BORN, on) == flags


def test_a_29_february_birthday():
    assert age_flags_from_birth_date(dt.date(2020, 2, 29), dt.date(2021, 2, 28)) == ("infant_patient",)
    assert age_flags_from_birth_date(dt.date(2020, 2, 29), dt.date(2021, 3, 1)) == ()


@pytest.mark.parametrize(
    ("years", "flags"),
    [(None, ()), (17.0, ("adult_patient",)), (16.0, ()), (0.071, ("infant_patient",)), (1.0, ()), (5.0, ())],
)
def test_age_flags_from_a_dicom_age(years, flags):
    assert age_flags_from_years(years) == flags


def test_notices_name_the_study_date_not_only_dicom():
    assert "study date" in flag_notice("adult_patient") and "infants" in flag_notice("infant_patient")


def analysed(user, predictor, data: bytes, name: str, **patient) -> Study:
    upload = StudyUpload(image_name=name, image_data=data, patient_mrn=patient.pop("mrn", "P-AGE"), **patient)
    study = study_create(user=user, upload=upload).study
    assert prediction_run(study_id=study.id, predictor=predictor) is not None
    return study


@pytest.mark.django_db
def test_a_jpeg_of_a_patient_born_in_1975_is_flagged_adult(api, alice, xray_bytes, predictor):
    study = analysed(
        alice,
        predictor,
        xray_bytes,
        "adult.jpg",
        mrn="P-1975",
        patient_birth_date=dt.date(1975, 3, 2),
        study_date=dt.date(2026, 11, 20),
    )
    api.force_authenticate(alice)
    prediction = api.get(f"/api/v1/studies/{study.id}/").json()["prediction"]
    assert prediction["flags"] == ["adult_patient"]


@pytest.mark.django_db
def test_a_26_day_old_without_a_study_date_is_flagged_infant_at_the_upload_date(alice, xray_bytes, predictor):
    born = timezone.localdate() - dt.timedelta(days=26)
    study = analysed(alice, predictor, xray_bytes, "neonate.png", mrn="P-NEO", patient_birth_date=born)
    assert study.predictions.get().flags == ["infant_patient"]


@pytest.mark.django_db
def test_a_child_in_range_has_no_age_flag(alice, xray_bytes, predictor):
    study = analysed(
        alice,
        predictor,
        xray_bytes,
        "child.jpg",
        mrn="P-KID",
        patient_birth_date=dt.date(2022, 1, 1),
        study_date=dt.date(2025, 6, 1),
    )
    assert study.predictions.get().flags == []


@pytest.mark.django_db
def test_dicom_patient_age_counts_when_there_is_no_birth_date(alice, predictor):
    adult = analysed(alice, predictor, xray_dicom(age="040Y"), "adult.dcm", mrn="P-D1")
    infant = analysed(alice, predictor, xray_dicom(age="026D"), "infant.dcm", mrn="P-D2")
    assert adult.predictions.get().flags == ["adult_patient"]
    assert infant.predictions.get().flags == ["infant_patient"]


@pytest.mark.django_db
def test_the_entered_birth_date_wins_over_dicom_patient_age(alice, predictor):
    study = analysed(
        alice,
        predictor,
        xray_dicom(age="040Y", view="LL"),
        "child.dcm",
        mrn="P-D3",
        patient_birth_date=dt.date(2021, 6, 1),
        study_date=dt.date(2024, 6, 1),
    )
    assert study.predictions.get().flags == ["lateral_view"]
