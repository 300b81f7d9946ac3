"""The audit app owns the append-only trigger from here on (diagnosis 0002 first created it).

The statement is idempotent (CREATE OR REPLACE, DROP ... IF EXISTS), so databases that already have the
trigger are unchanged and new databases end with exactly one. Reversing this migration leaves the trigger to
diagnosis 0002, which drops it when it is reversed in turn.
"""

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


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("diagnosis", "0002_audit_append_only")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
