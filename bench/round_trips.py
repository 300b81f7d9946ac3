"""The database writes of an upload and of a recorded prediction: ours, the rows sent with the audit chain's
lock and head read in one message (#17), against one statement at a time (what they replaced), side by side in
one process, interleaved. Per write: CPU ms of this process and of its PostgreSQL backend (read from /proc),
latency percentiles and writes/s.

- upload: a study, its image and the `study.upload` event. Naive: insert_row(study), insert_row(image),
  audit_record (three round trips before the event's INSERT). Ours: audit_record_if_changed with both INSERTs
  (one), as diagnosis.services.studies._store does.
- prediction: a claimed study completed, its prediction and the `prediction.create` event. Naive: the
  conditional UPDATE, insert_row, audit_record. Ours: diagnosis.services.predictions._recorded_if_still_claimed
  (the completion a CTE of the INSERT, sent with the audit head).

Each write in its own transaction, as in the app. The bench's own PostgreSQL database (bench/_stack.py) is
created and migrated first.

    .venv/bin/python bench/round_trips.py [--rounds 7] [--writes 200]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import Stack, cost_table, proc_group_cpu, timed_calls  # noqa: E402

STACK = Stack()
STACK._fresh_state()
os.environ.update(STACK.env())
STACK._manage("migrate", "--noinput", "-v0")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit.services.events import audit_record, audit_record_if_changed  # noqa: E402
from diagnosis.models import Image, Patient, Prediction, Study  # noqa: E402
from diagnosis.services import predictions, studies  # noqa: E402
from portal.frozen_queries import insert_row, insert_statement, mark_inserted  # noqa: E402


def backend_cpu_ms() -> float:
    """utime + stime of this connection's PostgreSQL backend, in ms."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return proc_group_cpu(cursor.fetchone()[0])[1] * 1000


class Uploads:
    """Fresh study and image rows, each write one upload's."""

    def __init__(self) -> None:
        self.user = get_user_model().objects.create_user("bench-uploader", password="x")  # noqa: S106
        self.patient = Patient.objects.create(mrn="BENCH-RT", name="Bench", created_by=self.user)
        self.n = 0

    def rows(self) -> tuple[Study, Image]:
        self.n += 1
        study = Study(patient=self.patient, created_by=self.user, clinical_notes="bench")
        digest = hashlib.sha256(f"upload-{self.n}-{time.time_ns()}".encode()).hexdigest()
        image = Image(study=study, file=f"studies/{study.id}/x.jpg", sha256=digest, size_bytes=1, width=256,
                      height=256, format="JPEG", meta={})  # fmt: skip
        return study, image

    def event(self, study: Study, image: Image) -> Any:
        return studies._image_event(user=self.user, study=study, image=image, primary=True, duplicate=None)

    def naive(self) -> None:
        study, image = self.rows()
        with transaction.atomic():
            insert_row(study)
            insert_row(image)
            audit_record(**self.event(study, image))

    def ours(self) -> None:
        study, image = self.rows()
        with transaction.atomic():
            audit_record_if_changed(
                [insert_statement(study), insert_statement(image)], **self.event(study, image)
            )
            mark_inserted(study)
            mark_inserted(image)


class Recordings:
    """Claimed studies with an image each, made before a round; each write records one prediction."""

    def __init__(self, uploads: Uploads) -> None:
        self.uploads = uploads
        self.claimed: list[tuple[Study, Image]] = []

    def claim(self, count: int) -> None:
        for _ in range(count):
            self.uploads.naive()
        started = timezone.now()
        fresh = Study.objects.filter(status=Study.Status.QUEUED)
        fresh.update(status=Study.Status.PROCESSING, processing_started_at=started)
        self.claimed = [(image.study, image) for image in Image.objects.select_related("study").filter(
            study__status=Study.Status.PROCESSING, study__processing_started_at=started)]  # fmt: skip

    def prediction(self) -> tuple[Study, Prediction, Any]:
        study, image = self.claimed.pop()
        prediction = Prediction(study=study, image=image, model_version="bench", run_number=1, probability=0.8,
                                label="PNEUMONIA", confidence=0.8, threshold=0.5, heatmap="studies/h.png")  # fmt: skip
        event = {"actor": None, "action": "prediction.create", "object_type": "prediction",
                 "object_id": prediction.id, "after": {"study": str(study.id), "probability": 0.8}}  # fmt: skip
        return study, prediction, event

    def naive(self) -> None:
        study, prediction, event = self.prediction()
        with transaction.atomic():
            assert predictions._complete_if_still_claimed(study)
            insert_row(prediction)
            audit_record(**event)

    def ours(self) -> None:
        study, prediction, event = self.prediction()
        with transaction.atomic():
            assert predictions._recorded_if_still_claimed(study, prediction, event)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    uploads = Uploads()
    recordings = Recordings(uploads)
    ways: dict[str, dict[str, Callable[[], None]]] = {
        "upload": {"naive": uploads.naive, "ours": uploads.ours},
        "prediction": {"naive": recordings.naive, "ours": recordings.ours},
    }
    for kind, pair in ways.items():
        cpu: dict[str, list[float]] = {name: [] for name in pair}
        backend: dict[str, list[float]] = {name: [] for name in pair}
        latency: dict[str, list[float]] = {name: [] for name in pair}
        for round_ in range(args.rounds + 1):  # the first round warms both ways and is not counted
            for name, write in pair.items():  # interleaved, so machine noise hits both alike
                if kind == "prediction":
                    recordings.claim(args.writes)
                db0 = backend_cpu_ms()
                per_write, waits = timed_calls(write, args.writes)
                if round_:
                    cpu[name].append(per_write)
                    backend[name].append((backend_cpu_ms() - db0) / args.writes)
                    latency[name] += waits
        print(
            f"{kind}: {args.rounds} rounds x {args.writes} writes each, interleaved (PostgreSQL {connection.vendor})"
        )
        print(cost_table(cpu, latency, "write", "writes"))
        for name in pair:
            print(
                f"  {name}: PostgreSQL backend {statistics.median(backend[name]):.3f} CPU ms per write (median)"
            )
        print()


if __name__ == "__main__":
    main()
