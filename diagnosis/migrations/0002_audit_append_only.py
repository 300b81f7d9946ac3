"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the audit trail (append-only)."""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION airspace_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'diagnosis_auditevent is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS airspace_audit_append_only ON diagnosis_auditevent;
CREATE TRIGGER airspace_audit_append_only BEFORE UPDATE OR DELETE ON diagnosis_auditevent
    FOR EACH ROW EXECUTE FUNCTION airspace_audit_append_only();
DROP TRIGGER IF EXISTS airspace_anchor_append_only ON diagnosis_auditanchor;
CREATE TRIGGER airspace_anchor_append_only BEFORE UPDATE OR DELETE ON diagnosis_auditanchor
    FOR EACH ROW EXECUTE FUNCTION airspace_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS airspace_audit_append_only ON diagnosis_auditevent;
DROP TRIGGER IF EXISTS airspace_anchor_append_only ON diagnosis_auditanchor;
DROP FUNCTION IF EXISTS airspace_audit_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("diagnosis", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
