from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

PENDING = ("scheduled", "held", "paused")


def backfill_next_due(apps, schema_editor):
    """Every ticket's earliest pending due time, computed once from its follow-ups (closed
    tickets included: a reopened one must not come back with an empty value)."""
    Ticket = apps.get_model("tickets", "Ticket")
    FollowUp = apps.get_model("tickets", "FollowUp")
    earliest = FollowUp.objects.filter(ticket=OuterRef("pk"), state__in=PENDING).order_by("due_at").values("due_at")[:1]
    with_pending = FollowUp.objects.filter(state__in=PENDING).values("ticket_id")
    Ticket.objects.filter(pk__in=with_pending).update(next_due_at=Subquery(earliest))


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0008_escalation_email_and_business_days_timing"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="ticket",
            name="next_due_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="가장 이른 후속 기한"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("status__in", ("received", "in_progress", "waiting_customer", "action_taken"))),
                fields=["next_due_at"],
                include=["kind", "board", "assignee", "received_at", "breached_at"],
                name="ticket_open_next_due",
            ),
        ),
        migrations.RunPython(backfill_next_due, migrations.RunPython.noop),
    ]
