"""Celery beat: the periodic sweeps and checks, each every AIRSPACE_*_SECONDS (a sweep is a backstop for a
task lost with the broker or a process that died between COMMIT and publish)."""

from __future__ import annotations

from typing import Any

from portal.settings.env import env_int


def _every(task: str, seconds_setting: str, default: int) -> dict[str, Any]:
    return {"task": task, "schedule": float(env_int(seconds_setting, default))}


CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-studies": _every("diagnosis.tasks.sweep_stuck_studies_task", "AIRSPACE_SWEEP_SECONDS", 15),
    # Every commit already signs its last audit event (audit.services.anchors); this backstop
    # covers an event whose process died between COMMIT and that append: the window stays <= 10 s.
    "anchor-audit-chain": _every("audit.tasks.audit_anchor_task", "AIRSPACE_AUDIT_ANCHOR_SECONDS", 10),
    # DICOM studies whose quiet-window release task was lost are filed (pacs app).
    "sweep-inbound-dicom-studies": _every(
        "pacs.tasks.inbound_study_sweep_task", "AIRSPACE_DICOM_SWEEP_SECONDS", 30
    ),
    # HL7 deliveries whose task was lost are sent again (a no-op while HL7 is off).
    "sweep-hl7-deliveries": _every("integrations.tasks.hl7_sweep_task", "AIRSPACE_HL7_SWEEP_SECONDS", 60),
    # DICOM result deliveries whose task was lost are sent again (a no-op without outbound nodes).
    "sweep-dicom-deliveries": _every(
        "pacs.tasks.dicom_sweep_task", "AIRSPACE_DICOM_DELIVERY_SWEEP_SECONDS", 60
    ),
    # Radiologists hear of urgent, positive or indeterminate studies that waited past the escalation limit.
    "scan-escalations": _every(
        "notifications.tasks.escalation_scan_task", "AIRSPACE_ESCALATION_SCAN_SECONDS", 60
    ),
    # Notification emails whose task was lost are sent (one task per recipient carries the others).
    "sweep-notification-emails": _every(
        "notifications.tasks.email_sweep_task", "AIRSPACE_EMAIL_SWEEP_SECONDS", 60
    ),
    # Live sensitivity/specificity against reads and output drift, per active profile (modelops.services.drift).
    # Calibration runs whose task was lost are sent again; runs whose worker died are failed, saying so.
    "sweep-calibration-runs": _every(
        "modelops.tasks.calibration_sweep_task", "AIRSPACE_CALIBRATION_SWEEP_SECONDS", 60
    ),
    "check-model-drift": _every("modelops.tasks.drift_check_task", "AIRSPACE_DRIFT_CHECK_SECONDS", 3600),
}
