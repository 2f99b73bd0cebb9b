"""PostgreSQL refuses changes to audit rows at the database level too. Clearing the actor of
an event whose user was deleted (ON DELETE SET NULL) is the one update allowed."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION tickets_ticketevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND NEW.ticket_id = OLD.ticket_id AND NEW.type = OLD.type AND NEW.at = OLD.at
       AND NEW.actor_label = OLD.actor_label AND NEW.data::text = OLD.data::text THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ticket events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER tickets_ticketevent_append_only
    BEFORE UPDATE OR DELETE ON tickets_ticketevent
    FOR EACH ROW EXECUTE FUNCTION tickets_ticketevent_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS tickets_ticketevent_append_only ON tickets_ticketevent;
DROP FUNCTION IF EXISTS tickets_ticketevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_webhooksubscription")]

    operations = [migrations.RunPython(forwards, backwards)]
