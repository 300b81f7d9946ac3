"""Monitoring figures on a small, real example: the shipped model on the committed fixture X-rays.

    .venv/bin/python bench/monitoring_example.py [--bundle models/<version>] [--keep DIR]

Runs the whole chain on a throw-away embedded database (SQLite under a temporary AIRSPACE_VAR_DIR):
upload each fixture X-ray (20 NORMAL, 20 PNEUMONIA) plus two non-chest images through study_create, run
the model with prediction_run, sign a review per study whose final label is the fixture's folder label
(a stand-in for the radiologist: agree when the AI matches, otherwise override as missed finding or
false alarm), then print monitoring_report, export_reviewed and audit_verify results.
The fixtures are few and may overlap the model's training data: this shows the figures, it does not
evaluate the model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _setup(var_dir: Path, bundle: str | None) -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)  # the embedded default: no shared service is touched
    os.environ["AIRSPACE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.dev"
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if bundle:
        os.environ["AIRSPACE_MODEL_BUNDLE"] = bundle
    (var_dir / "broker" / "processed").mkdir(parents=True, exist_ok=True)  # the embedded broker's folder
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _users() -> tuple[object, object]:
    from django.contrib.auth.models import Group, User

    clinician = User.objects.create_user("example-clinician", password="not-used-example-1")
    clinician.groups.add(Group.objects.get_or_create(name="clinician")[0])
    reader = User.objects.create_user("example-radiologist", password="not-used-example-2")
    reader.groups.add(Group.objects.get_or_create(name="radiologist")[0])
    return clinician, reader


def _run(clinician: object, reader: object, predictor: object) -> None:
    """Upload, predict and read every fixture; two non-chest images exercise the rejection gate."""
    from diagnosis.models import Study
    from diagnosis.services.predictions import prediction_run
    from diagnosis.services.studies import StudyUpload, study_create
    from reading.services.reviews import review_submit
    from tests.fixtures.hostile import hostile_corpus

    hostile = hostile_corpus()
    uploads = [
        (p.name, p.read_bytes(), p.parent.name)
        for p in sorted((ROOT / "tests/fixtures/xrays").glob("*/*.jp*g"))
    ]
    uploads += [(hostile[k][0], hostile[k][1], None) for k in ("photo", "document")]
    for index, (name, data, truth) in enumerate(uploads):
        upload = StudyUpload(image_name=name, image_data=data, patient_mrn=f"EX-{index:03d}")
        study = study_create(user=clinician, upload=upload).study
        prediction = prediction_run(study_id=study.id, predictor=predictor)
        if prediction is None or truth is None or Study.objects.get(id=study.id).status != "completed":
            continue
        if prediction.label == truth:
            review_submit(user=reader, study=study, decision="agree")
        else:
            reason = "missed_finding" if truth == "PNEUMONIA" else "false_alarm"
            review_submit(user=reader, study=study, decision="override", final_label=truth, reason=reason)


def _print_report() -> None:
    from modelops.services.monitoring import monitoring_report

    report = monitoring_report()
    for m in report["models"]:
        a, se, sp = m["agreement"], m["sensitivity"], m["specificity"]
        dist = m["probability_distribution"]
        print(f"model {m['model_version']}: volume {m['volume']}")
        print(f"  confusion {m['confusion']}")
        print(
            f"  agreement {a['value']:.3f} (95% CI {a['ci95'][0]:.3f}-{a['ci95'][1]:.3f}), kappa {a['kappa']:.3f}"
        )
        print(
            f"  sensitivity {se['value']:.3f} (95% CI {se['ci95'][0]:.3f}-{se['ci95'][1]:.3f}, n={se['n']})"
        )
        print(
            f"  specificity {sp['value']:.3f} (95% CI {sp['ci95'][0]:.3f}-{sp['ci95'][1]:.3f}, n={sp['n']})"
        )
        print(f"  overrides {m['overrides']}")
        psi = "n/a" if dist["psi"] is None else f"{dist['psi']:.3f}"
        ks = "n/a" if dist["ks"] is None else f"{dist['ks']:.3f}"
        print(f"  live histogram {dist['live_counts']}; PSI {psi}, KS {ks} ({dist['drift']})")
    print(f"rejected inputs {json.dumps(report['rejected_inputs'])}")


def main() -> None:
    """Build the example, then print the monitoring figures, the export summary and the audit check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="model bundle folder (default: models/CURRENT)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the example's var dir here")
    args = parser.parse_args()
    var_dir = args.keep or Path(tempfile.mkdtemp(prefix="airspace-monitoring-"))
    _setup(var_dir, args.bundle)
    from django.core.management import call_command

    from mlcore.inference import load_predictor

    clinician, reader = _users()
    _run(clinician, reader, load_predictor(args.bundle))
    _print_report()
    call_command("audit_anchor")
    call_command("export_reviewed", "--out", str(var_dir / "export"))
    call_command("audit_verify")


if __name__ == "__main__":
    main()
