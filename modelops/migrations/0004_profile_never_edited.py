"""On PostgreSQL, a trigger refuses any change to an operating profile except its active flag (#15:
profiles are never edited, only superseded)."""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION airspace_profile_never_edited() RETURNS trigger AS $$
BEGIN
    IF (to_jsonb(NEW) - 'active' - 'activated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'active' - 'activated_at') THEN
        RAISE EXCEPTION 'modelops_operatingprofile is never edited: create a profile that supersedes it'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS airspace_profile_never_edited ON modelops_operatingprofile;
CREATE TRIGGER airspace_profile_never_edited BEFORE UPDATE ON modelops_operatingprofile
    FOR EACH ROW EXECUTE FUNCTION airspace_profile_never_edited();
"""
DROP = """
DROP TRIGGER IF EXISTS airspace_profile_never_edited ON modelops_operatingprofile;
DROP FUNCTION IF EXISTS airspace_profile_never_edited();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("modelops", "0003_drift_alert")]
    operations = [migrations.RunPython(forwards, backwards)]
