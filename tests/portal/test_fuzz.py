"""Schema-driven fuzzing of the live API (schemathesis): no 5xx, and every response conforms to the schema.

A real HTTP server (pytest-django's live_server) serves the test database; schemathesis loads the schema it
serves and sends generated requests to every operation, with an admin token and then a radiologist token
for the reading actions only radiologists may take. Path ids are drawn from real records most of the time,
so detail endpoints are exercised beyond their 404.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from knox.models import AuthToken

from tests.diagnosis.factories import StudyFactory, completed_study, png_bytes

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 20
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
READING_ACTIONS = r"/studies/\{id\}/(claim|release|review)/$"


def seed_records(owner: Any) -> dict[str, list[str]]:
    """Studies in several states (with images and heatmaps) and their patients, for path parameters."""
    studies = [completed_study(created_by=owner, probability=p) for p in (0.1, 0.6, 0.95)]
    for study in studies:
        study.predictions.get().heatmap.save("h.png", ContentFile(png_bytes(shade=200)), save=True)
    studies += [StudyFactory(created_by=owner) for _ in range(3)]
    return {
        "study_ids": [str(s.id) for s in studies],
        "patient_ids": [str(s.patient_id) for s in studies],
    }


def write_config(path: Path, ids: dict[str, list[str]]) -> Path:
    """A schemathesis.toml binding {id} to real records 90% of the time."""
    lines = []
    for name, values in ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    for prefix, name in (("studies", "study_ids"), ("patients", "patient_ids")):
        lines += [
            "[[operations]]",
            f'include-path-regex = "^/api/v1/{prefix}/\\\\{{id\\\\}}/"',
            f'parameters = {{ "path.id" = {{ dictionary = "{name}", probability = 0.9 }} }}',
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def run_schemathesis(base_url: str, token: str, config: Path, report: Path, *extra: str) -> dict[str, Any]:
    """Run the schemathesis CLI against the served schema; the parsed JSON report."""
    cmd = [
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{base_url}/api/v1/schema/",
        "--header", f"Authorization: Token {token}",
        "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES),
        "--phases", "examples,coverage,fuzzing",
        "--workers", "1",
        "--seed", "6",
        "--request-timeout", "30",
        "--report", "json", "--report-json-path", str(report),
        *extra,
    ]  # fmt: skip
    # Run from the report's folder: schemathesis and hypothesis keep their caches in the working directory.
    result = subprocess.run(cmd, cwd=report.parent, capture_output=True, text=True, timeout=500)
    print(result.stdout[-4000:])
    assert report.exists(), result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads(report.read_text())
    summary["stdout"] = result.stdout
    return summary


def _counts(report: dict[str, Any]) -> tuple[int, int, int]:
    failures = report["test_cases"]["with_failures"] + report["test_cases"]["errored"]
    return report["operations"]["tested"], report["test_cases"]["generated"], failures


@pytest.mark.slow
def test_fuzz_live_api_has_no_5xx_and_conforms(
    transactional_db: None,
    live_server: Any,
    alice: Any,
    carol: Any,
    admin_user: Any,
    model_bundle: Path,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "schemathesis.toml", seed_records(alice))
    admin_token = AuthToken.objects.create(user=admin_user)[1]
    radiologist_token = AuthToken.objects.create(user=carol)[1]
    runs = {
        "admin": run_schemathesis(live_server.url, admin_token, config, tmp_path / "admin.json"),
        "radiologist": run_schemathesis(
            live_server.url,
            radiologist_token,
            config,
            tmp_path / "radiologist.json",
            "--include-path-regex",
            READING_ACTIONS,
        ),
    }
    for name, report in runs.items():
        operations, cases, failures = _counts(report)
        print(f"FUZZ {name}: operations={operations} cases={cases} failures={failures}")
    for name, report in runs.items():
        assert report["exit_code"] == 0 and report["failures"] == [] and report["errors"] == [], (
            name,
            report["stdout"][-8000:],
        )
    assert runs["admin"]["operations"]["tested"] == runs["admin"]["operations"]["total"] >= 18
    assert runs["radiologist"]["operations"]["tested"] == 3
