"""Site calibration on the site sample, the way a hospital would do it: every labelled original uploaded
through the API of the running stack, a read signed for each with its true label, then
`manage.py site_calibrate --from-reviews --activate`, then the same films uploaded again to see the
labels the site profile gives.

    .venv/bin/python bench/site_calibration.py [--data ../shared/data/site_sample] [--target-sensitivity 0.95]

The site sample is for external validation and calibration only: no weights are trained on it. The
before/after figures printed by site_calibrate are cross-validated over patients (the profile scoring a read
never saw that patient); the re-upload figures at the end are in-sample for the profile (it was fitted on
these reads) and are printed only to show the served labels follow the new profile.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _stack import FINAL, PASSWORD, ROOT, Stack, post_study  # noqa: E402

from mlcore.data import patient_id_from_name  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "site_sample"


def call(stack: Stack, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON API call with a token; the decoded answer."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{stack.base_url}{path}", data, headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def login(stack: Stack, username: str) -> str:
    """An API token for a demo user."""
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{stack.base_url}/api/v1/auth/token/", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


def films(data: Path) -> list[tuple[Path, str]]:
    """(path, true label) for every image under NORMAL/ and PNEUMONIA/."""
    return [
        (path, label)
        for label in ("NORMAL", "PNEUMONIA")
        for path in sorted((data / label).iterdir())
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".dcm"}
    ]


def upload_all(stack: Stack, items: list[tuple[Path, str]], tag: str) -> list[tuple[str, str]]:
    """Upload every film (MRN = its patient, so a patient's films stay together); wait for all results."""
    ids = []
    for path, label in items:
        mrn = re.sub(r"[^A-Za-z0-9]", "-", f"{tag}-{patient_id_from_name(path.name)}")[:64]
        status, body = post_study(stack, path.name, path.read_bytes(), mrn=mrn)
        assert status == 201, body
        ids.append((body["id"], label))
    deadline = time.monotonic() + 1200
    while time.monotonic() < deadline:
        done = stack.query(
            "SELECT count(*) FROM diagnosis_study WHERE id = ANY(%s) AND status = ANY(%s)",
            ([i for i, _ in ids], list(FINAL)),
        )[0][0]
        if done == len(ids):
            return ids
        time.sleep(0.5)
    raise RuntimeError("studies did not finish within 20 minutes")


def sign_reads(stack: Stack, token: str, ids: list[tuple[str, str]]) -> dict[str, int]:
    """A read per completed study with its true label; how many studies ended in each state."""
    states: dict[str, int] = {}
    for study_id, truth in ids:
        study = call(stack, token, "GET", f"/api/v1/studies/{study_id}/")
        states[study["status"]] = states.get(study["status"], 0) + 1
        if study["status"] != "completed":
            continue
        ai = study["prediction"]["label"]
        body: dict[str, Any] = {"decision": "agree"}
        if ai != truth:
            reason = "missed_finding" if truth == "PNEUMONIA" else "false_alarm"
            body = {"decision": "override", "final_label": truth, "reason": reason}
        call(stack, token, "POST", f"/api/v1/studies/{study_id}/review/", body)
    return states


def served_figures(stack: Stack, token: str, ids: list[tuple[str, str]]) -> str:
    """Sensitivity, specificity and indeterminate share of the labels the API served for these studies."""
    tp = fn = tn = fp = indeterminate = n = 0
    profiles = set()
    for study_id, truth in ids:
        prediction = call(stack, token, "GET", f"/api/v1/studies/{study_id}/").get("prediction")
        if not prediction:
            continue
        n += 1
        profiles.add((prediction.get("operating_profile") or {}).get("id"))
        indeterminate += prediction["indeterminate"]
        called = prediction["label"] == "PNEUMONIA"
        tp, fn = tp + (truth == "PNEUMONIA" and called), fn + (truth == "PNEUMONIA" and not called)
        tn, fp = tn + (truth == "NORMAL" and not called), fp + (truth == "NORMAL" and called)
    return (
        f"n={n} profile(s) {sorted(p for p in profiles if p is not None)}: sensitivity {tp / (tp + fn):.3f} "
        f"({tp}/{tp + fn}), specificity {tn / (tn + fp):.3f} ({tn}/{tn + fp}), "
        f"indeterminate {indeterminate / n:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--target-sensitivity", default="0.95")
    args = parser.parse_args()
    items = films(args.data)
    with Stack(workers=1) as stack:
        radiologist = login(stack, "radiologist")
        ids = upload_all(stack, items, "SITE")
        print(f"Uploaded {len(items)} films through the API: {sign_reads(stack, radiologist, ids)}")
        print("Served with the bundle's profile (before):", served_figures(stack, radiologist, ids))
        command = [sys.executable, "manage.py", "site_calibrate", "--from-reviews", "--activate"]
        command += ["--target-sensitivity", args.target_sensitivity, "--user", "admin"]
        command += ["--override-reason", "bench: recorded only if the safety rail asks"]
        report = subprocess.run(command, cwd=ROOT, env=stack.env(), capture_output=True, text=True)
        print(report.stdout or report.stderr)
        again = upload_all(stack, items, "AGAIN")
        print("Served after activation (in-sample):", served_figures(stack, radiologist, again))


if __name__ == "__main__":
    main()
