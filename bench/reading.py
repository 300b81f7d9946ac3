"""Worklist and audit-verification cost at hospital scale, on a throw-away embedded database.

    .venv/bin/python bench/reading.py [--studies 5000] [--events 20000]

Seeds completed studies (with predictions, a fifth of them urgent, some escalated, a tenth reviewed) and
audit events, then prints the median time of: one worklist page (50 rows, reading order) with its badge
counts, the monitoring report, and a full audit_verify walk (events per second). SQLite under a temporary
AIRSPACE_VAR_DIR; no shared service is touched.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup() -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ["AIRSPACE_VAR_DIR"] = tempfile.mkdtemp(prefix="airspace-bench-reading-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.dev"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(studies: int, events: int) -> object:
    """Bulk rows: patients, completed studies, images, predictions, reviews, audit events."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from audit.services.events import audit_record
    from diagnosis.models import Image, Patient, Prediction, Study
    from mlcore.calibration import label_confidence
    from reading.models import Review

    rng = random.Random(7)
    user = User.objects.create_user("bench-reader", password="bench-password-1")
    user.groups.add(Group.objects.get_or_create(name="radiologist")[0])
    patients = Patient.objects.bulk_create(
        [Patient(mrn=f"B{i:06d}", created_by=user) for i in range(studies)]
    )
    now = timezone.now()
    rows = Study.objects.bulk_create(
        [
            Study(
                patient=p,
                created_by=user,
                status=Study.Status.COMPLETED,
                priority="urgent" if rng.random() < 0.2 else "routine",
            )
            for p in patients
        ]
    )
    for study in rows:  # spread the waiting times over 8 hours
        study.created_at = now - timedelta(minutes=rng.randint(0, 480))
    Study.objects.bulk_update(rows, ["created_at"], batch_size=1000)
    images = Image.objects.bulk_create(
        [
            Image(
                study=s,
                file=f"bench/{s.id}.png",
                sha256="0" * 64,
                size_bytes=1,
                width=224,
                height=224,
                format="PNG",
            )
            for s in rows
        ]
    )
    predictions = []
    for study, image in zip(rows, images, strict=True):
        p = rng.random()
        predictions.append(
            Prediction(
                study=study,
                image=image,
                model_version="bench",
                probability=p,
                label="PNEUMONIA" if p >= 0.5 else "NORMAL",
                confidence=label_confidence(p, "PNEUMONIA" if p >= 0.5 else "NORMAL"),
                threshold=0.5,
                indeterminate=0.45 < p < 0.55,
            )
        )
    Prediction.objects.bulk_create(predictions)
    Review.objects.bulk_create(
        [
            Review(
                study=pr.study,
                prediction=pr,
                reviewer=user,
                decision="agree",
                final_label=pr.label,
                ai_label=pr.label,
            )
            for pr in predictions[: studies // 10]
        ]
    )
    for i in range(events):
        audit_record(actor=user, action="study.view", object_type="study", object_id=i)
    return user


def _median_ms(fn: object, repeats: int = 5) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    """Seed, then time the worklist page, the badges, monitoring and audit verification."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    _setup()
    started = time.perf_counter()
    user = _seed(args.studies, args.events)
    print(
        f"seeded {args.studies} studies and {args.events} audit events in {time.perf_counter() - started:.1f} s"
    )
    from audit.services.events import audit_verify
    from modelops.services.monitoring import monitoring_report
    from reading.selectors import worklist_counts, worklist_for

    page = _median_ms(lambda: list(worklist_for(user=user)[:50]))
    counts = _median_ms(lambda: worklist_counts(user=user))
    report = _median_ms(lambda: monitoring_report(), repeats=3)
    started = time.perf_counter()
    verdict = audit_verify()
    walk = time.perf_counter() - started
    print(f"worklist page (50 rows, reading order): {page:.0f} ms median")
    print(f"worklist badge counts: {counts:.0f} ms median")
    print(f"monitoring report (one version, {args.studies} predictions): {report:.0f} ms median")
    print(
        f"audit_verify: {verdict.checked} events in {walk:.2f} s ({verdict.checked / walk:,.0f} events/s), ok={verdict.ok}"
    )


if __name__ == "__main__":
    main()
