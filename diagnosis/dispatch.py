"""Hand work to the Celery worker by task name.

Services enqueue through here instead of importing diagnosis.tasks: the tasks import the services, so a
service importing a task module would close an import cycle (studies -> tasks -> sweeper -> studies).
"""

from __future__ import annotations

from typing import Any

from celery import current_app

PREDICTION_RUN_TASK = "diagnosis.tasks.prediction_run_task"


def prediction_run_send(*, study_id: Any, priority: int | None = None) -> None:
    """Publish one prediction run for the study (default queue, no publish retry: the sweeper retries).

    `priority` 0 jumps the queue (a study recovered from a dead worker)."""
    options = {} if priority is None else {"priority": priority}
    current_app.send_task(PREDICTION_RUN_TASK, args=[str(study_id)], retry=False, **options)
