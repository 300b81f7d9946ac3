"""What the worker asks before every study, in one statement: the served bundle, its active operating profile
and the shadow run in progress. Each change an admin makes reaches the next study; a new installation still
gets the bundle's own profile."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from diagnosis.models import Prediction
from diagnosis.services.studies import StudyUpload, study_create
from diagnosis.tasks import prediction_run_task
from mlcore.bundle import load_bundle
from modelops.models import OperatingProfile
from modelops.selectors import ShadowInProgress, serving_state
from modelops.services.predictor import serving_now
from modelops.services.profiles import profile_activate, profile_active
from modelops.services.shadow import shadow_promote, shadow_start, shadow_stop
from tests.conftest import xray_paths
from tests.modelops.test_shadow import candidate

pytestmark = pytest.mark.django_db


def test_a_new_installation_gets_the_bundles_own_profile_then_one_statement_per_study():
    assert serving_state() is None  # no profile is active yet
    first = serving_now()
    assert first.profile.source == "bundle" and first.profile.active and first.shadow is None
    assert first.predictor.threshold == first.profile.threshold
    with CaptureQueriesContext(connection) as asked:
        again = serving_now()
    assert len(asked.captured_queries) == 1
    assert again.profile.pk == first.profile.pk and again.predictor.version == first.predictor.version


def test_an_activated_profile_and_a_shadow_reach_the_next_study(admin_user):
    bundle = load_bundle(verify=False, serving=False)
    served = profile_active(bundle=bundle)
    lenient = candidate(bias=2.0)
    shadow = shadow_start(user=admin_user, candidate_profile=lenient)
    now = serving_now()
    assert now.shadow == ShadowInProgress(shadow.pk, bundle.version) and now.profile.pk == served.pk
    shadow_stop(shadow=shadow, user=admin_user)
    assert serving_now().shadow is None
    profile_activate(profile=lenient, user=admin_user, override_reason="test: a lenient profile")
    now = serving_now()
    assert now.profile.pk == lenient.pk and (now.predictor.bias, now.predictor.threshold) == (2.0, 0.5)
    assert OperatingProfile.objects.get(pk=served.pk).active is False


def test_a_promoted_bundle_is_served_with_its_own_profile(candidate_bundle, admin_user):
    profile_active(bundle=load_bundle(verify=False, serving=False))
    shadow = shadow_start(user=admin_user, candidate_bundle=candidate_bundle)
    assert serving_now().shadow.id == shadow.pk
    shadow_promote(shadow=shadow, user=admin_user)
    now = serving_now()  # the candidate has no profile yet: its bundle's own is made
    assert now.predictor.version == "airspace-cnn-cand-2" and now.shadow is None
    assert now.profile.model_version == "airspace-cnn-cand-2" and now.profile.source == "bundle"
    with CaptureQueriesContext(connection) as asked:
        assert serving_now().profile.pk == now.profile.pk
    assert len(asked.captured_queries) == 1


@pytest.mark.django_db(transaction=True)  # the task's signals may close the connection, as in a worker
def test_a_prediction_takes_seven_statements_and_numbers_its_runs(alice, predictor):
    """Serving state 1, claim 1, images with the latest run 1, and the recording transaction 4: BEGIN, the
    completion with the prediction's INSERT and the audit head, the audit INSERT, COMMIT (#17: it was 12)."""
    data = xray_paths()[0].read_bytes()
    first = study_create(
        user=alice, upload=StudyUpload(image_name="x.jpg", image_data=data, patient_mrn="R-1")
    )
    # The first study loads the model and makes the bundle's profile.
    prediction_run_task.apply(args=[str(first.study.id)])
    upload = StudyUpload(image_name="y.jpg", image_data=xray_paths()[1].read_bytes(), patient_mrn="R-2")
    second = study_create(user=alice, upload=upload).study
    with CaptureQueriesContext(connection) as asked:
        prediction_run_task.apply(args=[str(second.id)])
    statements = [q["sql"] for q in asked.captured_queries]
    if connection.vendor == "postgresql":  # SQLite has no UPDATE in a CTE: it runs them one by one
        assert len(statements) == 7, statements
    assert Prediction.objects.get(study=second).run_number == 1
    # A second run on the same model version is run 2: the claim read run 1 as the latest.
    second.status, second.attempts = "queued", 0
    second.save(update_fields=["status", "attempts"])
    prediction_run_task.apply(args=[str(second.id)])
    assert sorted(Prediction.objects.filter(study=second).values_list("run_number", flat=True)) == [1, 2]
