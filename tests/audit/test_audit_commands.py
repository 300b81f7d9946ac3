"""audit_verify / audit_anchor commands, and audit completeness: role changes, admin edits, access events."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditAnchor, AuditEvent
from audit.services.events import audit_record
from diagnosis.models import Department, StaffProfile
from diagnosis.services.staff import staff_department_set
from tests.audit.test_audit import raw
from tests.conftest import ROOT
from tests.diagnosis.factories import completed_study, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def anchor_file(settings, tmp_path):
    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    return settings.AIRSPACE_AUDIT_ANCHOR_FILE


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_anchor_then_verify_ok(alice, anchor_file):
    for i in range(3):
        audit_record(actor=alice, action="study.view", object_type="study", object_id=i)
    out, _ = run("audit_anchor")
    head = AuditEvent.objects.order_by("-id").first()
    assert f"Anchored event {head.id}" in out
    line = json.loads(anchor_file.read_text().splitlines()[-1])
    assert line["event_id"] == head.id and line["head_hash"] == head.hash
    run("audit_anchor")  # nothing new: no duplicate anchor
    assert AuditAnchor.objects.count() == 1 and len(anchor_file.read_text().splitlines()) == 1
    count = AuditEvent.objects.count()
    out, _ = run("audit_verify")
    assert out.startswith(f"OK: {count} events, hash chain intact; 2 anchors verified")
    assert "0 newer events not yet anchored" in out
    event = AuditEvent.objects.order_by("-id").first()
    assert event.action == "audit.verify" and event.after == {"ok": True, "events": count, "problems": 0}


def test_verify_names_the_first_broken_event(alice, anchor_file):
    events = [audit_record(actor=alice, action="study.view", object_id=i) for i in range(4)]
    run("audit_anchor")
    raw("UPDATE diagnosis_auditevent SET reason = %s WHERE id = %s", ["nothing to see", events[1].id])
    err = io.StringIO()
    with pytest.raises(CommandError, match=f"first problem: event {events[1].id}: contents altered"):
        call_command("audit_verify", "--no-record", stdout=io.StringIO(), stderr=err)
    assert (
        "AUDIT TRAIL BROKEN" in err.getvalue() and f"event {events[1].id}: contents altered" in err.getvalue()
    )
    assert not AuditEvent.objects.filter(action="audit.verify").exists()


def test_verify_checks_an_offsite_anchor_copy(alice, anchor_file, tmp_path):
    audit_record(actor=alice, action="study.view")
    run("audit_anchor")
    forged = tmp_path / "offsite.jsonl"
    line = json.loads(anchor_file.read_text())
    forged.write_text(json.dumps({**line, "signature": "0" * 64}) + "\nnot json\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="offsite.jsonl line 2: unreadable"):
        call_command("audit_verify", "--anchors", str(forged), stdout=io.StringIO(), stderr=err)
    assert f"anchor at event {line['event_id']} (offsite.jsonl:1): signature invalid" in err.getvalue()


def test_anchor_refuses_an_empty_key(alice, anchor_file, settings):
    settings.AIRSPACE_AUDIT_HMAC_KEY = ""
    audit_record(actor=alice, action="study.view")
    with pytest.raises(CommandError, match="AIRSPACE_AUDIT_HMAC_KEY"):
        run("audit_anchor")
    assert not AuditAnchor.objects.exists()


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.django_db(transaction=True)
def test_cli_exit_status_on_postgresql(services, alice, settings, tmp_path):
    """The real command line an auditor runs: exit 0 when intact, 1 naming the event when not."""
    # The subprocess's test settings put the anchor file under its AIRSPACE_VAR_DIR: a fresh one.
    settings.AIRSPACE_AUDIT_ANCHOR_FILE = tmp_path / "test-audit-anchors.jsonl"
    events = [audit_record(actor=alice, action="study.view", object_id=i) for i in range(3)]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "AIRSPACE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    assert manage("audit_anchor", env=env).returncode == 0
    intact = manage("audit_verify", env=env)
    assert intact.returncode == 0 and intact.stdout.startswith("OK:"), intact.stderr
    raw("DELETE FROM diagnosis_auditevent WHERE id = %s", [events[1].id])
    broken = manage("audit_verify", env=env)
    assert broken.returncode == 1
    assert f"event {events[2].id}: link broken" in broken.stderr


def test_role_changes_are_audited_from_both_sides(alice):
    radiologist = Group.objects.get_or_create(name="radiologist")[0]
    alice.groups.add(radiologist)
    added = (
        AuditEvent.objects.filter(action="user.roles_changed", object_id=str(alice.pk))
        .order_by("-id")
        .first()
    )
    assert added.before == {"roles": ["clinician"]} and added.after == {"roles": ["clinician", "radiologist"]}
    radiologist.user_set.remove(alice)  # the reverse side of the same relation
    removed = (
        AuditEvent.objects.filter(action="user.roles_changed", object_id=str(alice.pk))
        .order_by("-id")
        .first()
    )
    assert removed.before == {"roles": ["clinician", "radiologist"]} and removed.after == {
        "roles": ["clinician"]
    }
    alice.groups.clear()
    cleared = (
        AuditEvent.objects.filter(action="user.roles_changed", object_id=str(alice.pk))
        .order_by("-id")
        .first()
    )
    assert cleared.after == {"roles": []} and cleared.actor_username == "system"
    before = AuditEvent.objects.count()
    alice.groups.add(radiologist)
    alice.groups.add(radiologist)  # no change: no event
    assert AuditEvent.objects.count() == before + 1


def test_user_field_changes_are_audited_without_the_password(alice):
    alice.is_staff = True
    alice.set_password("another-long-passphrase")
    alice.save()
    event = AuditEvent.objects.filter(action="user.change", object_id=str(alice.pk)).get()
    assert event.before == {"is_staff": False, "password": "(previous)"}
    assert event.after == {"is_staff": True, "password": "(changed)"}
    assert "pbkdf2" not in json.dumps(event.after) and "md5" not in json.dumps(event.after)
    assert AuditEvent.objects.filter(action="user.create", object_id=str(alice.pk)).exists()


def test_admin_edit_records_actor_ip_roles_and_the_admin_action(client, alice):
    root = User.objects.create_superuser("root", password="correct-horse-battery")
    client.force_login(root)
    clinician = Group.objects.get(name="clinician")
    radiologist = Group.objects.get_or_create(name="radiologist")[0]
    page = client.get(f"/django-admin/auth/user/{alice.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        {
            "groups": [clinician.pk, radiologist.pk],
            "user_permissions": [],
            "is_active": "on",
            "date_joined_0": alice.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": alice.date_joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
        }
    )
    data.pop("date_joined", None), data.pop("last_login", None)
    response = client.post(
        f"/django-admin/auth/user/{alice.pk}/change/", data, HTTP_USER_AGENT="pytest-browser"
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    roles = (
        AuditEvent.objects.filter(action="user.roles_changed", object_id=str(alice.pk))
        .order_by("-id")
        .first()
    )
    assert roles.actor_username == "root" and roles.ip == "127.0.0.1" and roles.user_agent == "pytest-browser"
    assert roles.after == {"roles": ["clinician", "radiologist"]}
    admin_event = AuditEvent.objects.filter(action="admin.change", object_id=str(alice.pk)).get()
    assert admin_event.actor == root and admin_event.object_type == "user"
    assert "Groups" in admin_event.after["change"]


def test_department_change_is_audited(alice, admin_user):
    ward = Department.objects.create(name="Paediatrics")
    staff_department_set(user=alice, department=ward)
    staff_department_set(user=alice, department=Department.objects.create(name="Emergency"), actor=admin_user)
    staff_department_set(user=alice, department=Department.objects.get(name="Emergency"))  # no change
    events = AuditEvent.objects.filter(action="user.department_changed", object_id=str(alice.pk)).order_by(
        "id"
    )
    assert [(e.before, e.after) for e in events] == [
        ({"department": None}, {"department": "Paediatrics"}),
        ({"department": "Paediatrics"}, {"department": "Emergency"}),
    ]


def test_access_events_carry_actor_ip_and_user_agent(api, client, alice, carol, admin_user):
    study = completed_study(created_by=alice)
    prediction = study.predictions.get()
    prediction.heatmap.save("h.png", ContentFile(png_bytes()), save=True)
    api.force_authenticate(carol)
    headers = {"HTTP_USER_AGENT": "reader/1.0"}
    assert api.get(f"/api/v1/studies/{study.id}/", **headers).status_code == 200
    polled = api.get(f"/api/v1/studies/{study.id}/?poll=1", **headers)  # audited as study.poll
    assert polled.status_code == 200
    assert api.get(f"/api/v1/studies/{study.id}/image/", **headers).status_code == 200
    assert api.get(f"/api/v1/studies/{study.id}/heatmap/", **headers).status_code == 200
    assert api.get(f"/api/v1/patients/{study.patient_id}/", **headers).status_code == 200
    client.force_login(admin_user)
    assert client.get("/audit/?format=csv", **headers).status_code == 200
    expected = {
        ("study.view", "carol"),
        ("study.poll", "carol"),
        ("image.download", "carol"),
        ("heatmap.download", "carol"),
        ("patient.view", "carol"),
        ("audit.export", "root-admin"),
    }
    rows = AuditEvent.objects.filter(user_agent="reader/1.0")
    assert {(e.action, e.actor_username) for e in rows} == expected
    assert AuditEvent.objects.filter(action="study.view", object_id=str(study.id)).count() == 1
    assert all(e.ip == "127.0.0.1" for e in rows)


def test_sign_in_and_failed_sign_in_are_audited(client, alice):
    assert client.post("/login/", {"username": "alice", "password": "wrong"}).status_code == 200
    assert (
        client.post("/login/", {"username": "alice", "password": "correct-horse-battery"}).status_code == 302
    )
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.object_id == "alice" and failed.actor is None and failed.ip == "127.0.0.1"
    assert AuditEvent.objects.filter(action="auth.login", actor=alice).exists()
    # The last-login stamp is not a user change.
    assert not AuditEvent.objects.filter(action="user.change", object_id=str(alice.pk)).exists()


def test_setting_changes_are_recorded_at_each_anchor(anchor_file, settings):
    from audit.tasks import audit_anchor_task

    first, _ = run("audit_anchor")
    snapshot = AuditEvent.objects.get(action="settings.changed")
    assert snapshot.reason == "first snapshot" and snapshot.before is None
    assert snapshot.after["snapshot"]["AIRSPACE_CLAIM_MINUTES"] == settings.AIRSPACE_CLAIM_MINUTES
    assert settings.AIRSPACE_AUDIT_HMAC_KEY not in json.dumps(snapshot.after)  # never a secret
    assert audit_anchor_task() == snapshot.id  # unchanged: nothing new recorded, the head is signed
    previous = settings.AIRSPACE_CLAIM_MINUTES
    settings.AIRSPACE_CLAIM_MINUTES = previous + 15
    settings.AIRSPACE_REVIEW_REASONS = ["other"]
    out, _ = run("audit_anchor")
    assert "Recorded settings.changed: AIRSPACE_CLAIM_MINUTES, AIRSPACE_REVIEW_REASONS." in out
    change = AuditEvent.objects.filter(action="settings.changed").order_by("-id").first()
    assert change.before["AIRSPACE_CLAIM_MINUTES"] == previous
    assert change.after["changed"] == {
        "AIRSPACE_CLAIM_MINUTES": previous + 15,
        "AIRSPACE_REVIEW_REASONS": ["other"],
    }
    assert AuditAnchor.objects.order_by("-id").first().event_id == change.id
    assert AuditEvent.objects.filter(action="settings.changed").count() == 2


def test_deleting_a_role_records_each_member_losing_it(alice, carol):
    radiologist = Group.objects.get(name="radiologist")
    alice.groups.add(radiologist)
    radiologist.delete()
    events = AuditEvent.objects.filter(action="user.roles_changed", reason="role radiologist deleted")
    changes = {e.object_id: (e.before["roles"], e.after["roles"]) for e in events}
    assert changes == {
        str(alice.pk): (["clinician", "radiologist"], ["clinician"]),
        str(carol.pk): (["radiologist"], []),
    }
    assert AuditEvent.objects.filter(action="role.delete", before={"name": "radiologist"}).exists()


def test_admin_bulk_delete_is_still_audited(client, alice):
    root = User.objects.create_superuser("root", password="correct-horse-battery")
    wards = [Department.objects.create(name=n) for n in ("Ward A", "Ward B")]
    StaffProfile.objects.create(user=alice, department=wards[0])
    client.force_login(root)
    response = client.post(
        "/django-admin/diagnosis/staffprofile/",
        {"action": "delete_selected", "_selected_action": [alice.profile.pk], "post": "yes"},
    )
    assert response.status_code == 302 and not StaffProfile.objects.exists()
    response = client.post(
        "/django-admin/diagnosis/department/",
        {"action": "delete_selected", "_selected_action": [w.pk for w in wards], "post": "yes"},
    )
    assert response.status_code == 302 and not Department.objects.exists()
    scope = AuditEvent.objects.get(action="user.department_changed", reason="staff profile deleted")
    assert (
        scope.actor == root
        and scope.before == {"department": "Ward A"}
        and scope.after == {"department": None}
    )
    deleted = AuditEvent.objects.filter(action="department.delete").order_by("id")
    assert sorted((e.actor_username, e.before["name"]) for e in deleted) == [
        ("root", "Ward A"),
        ("root", "Ward B"),
    ]
