"""On PostgreSQL, TRUNCATE of the audit tables is refused too (#17 finding 6), even for their owner.

The row trigger of 0002 refuses UPDATE and DELETE; TRUNCATE fires no row trigger, so a statement trigger
calls the same function. The portal's own role cannot TRUNCATE anyway (see `manage.py db_roles`); this
stops the owner's path short of deliberately disabling the trigger.
"""

from __future__ import annotations

from django.db import migrations

CREATE = """
DROP TRIGGER IF EXISTS airspace_audit_no_truncate ON diagnosis_auditevent;
CREATE TRIGGER airspace_audit_no_truncate BEFORE TRUNCATE ON diagnosis_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION airspace_audit_append_only();
DROP TRIGGER IF EXISTS airspace_anchor_no_truncate ON diagnosis_auditanchor;
CREATE TRIGGER airspace_anchor_no_truncate BEFORE TRUNCATE ON diagnosis_auditanchor
    FOR EACH STATEMENT EXECUTE FUNCTION airspace_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS airspace_audit_no_truncate ON diagnosis_auditevent;
DROP TRIGGER IF EXISTS airspace_anchor_no_truncate ON diagnosis_auditanchor;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("diagnosis", "0007_patient_mrn_format")]
    operations = [migrations.RunPython(forwards, backwards)]
