"""The beat tasks run (each one is a thin call into a service)."""

import pytest

from tickets import tasks

pytestmark = pytest.mark.django_db


def test_daily_retention_task_runs(make_ticket):
    make_ticket()
    assert tasks.purge_expired_personal_data() is None  # imports and calls the retention service


def test_digest_scheduler_task_runs(supervisor):
    from tickets.models import Action, FollowUp

    tasks.schedule_morning_digests()
    assert FollowUp.objects.filter(action=Action.MORNING_DIGEST, recipient=supervisor).exists()
