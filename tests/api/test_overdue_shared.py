"""The overdue queue endpoint and the supervisor page read the shared rollup for the whole
queue, and count live when filtered or scoped."""

from datetime import datetime, timedelta

import pytest
import time_machine

from cstrack.calendar import KST
from tickets.models import Ticket
from tickets.tasks import refresh_overdue_rollup

from ..tickets.conftest import VALID

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shared_queue_summary")]
MOMENT = datetime(2026, 11, 25, 12, 0, tzinfo=KST)


def test_whole_queue_from_the_rollup_filtered_and_scoped_counted_live(
    make_ticket, client_for, client, supervisor, agent
):
    with time_machine.travel(MOMENT - timedelta(hours=2), tick=False):  # nothing due yet: breached ones only
        pet = dict(VALID["pet-cs-inquiry"][0])
        tickets = [make_ticket(), make_ticket(kind="pet-cs-inquiry", details=pet), make_ticket()]
    breached = MOMENT - timedelta(days=1)
    Ticket.objects.filter(pk__in=[t.pk for t in tickets[:2]]).update(breached_at=breached)
    with time_machine.travel(MOMENT, tick=False):
        refresh_overdue_rollup()  # as beat does every minute
    Ticket.objects.filter(pk=tickets[2].pk).update(breached_at=breached)  # a live count sees it
    with time_machine.travel(MOMENT + timedelta(seconds=5), tick=False):
        api = client_for(name="overdue-reader")
        whole = api.get("/api/v1/queues/overdue/").json()["summary"]
        filtered = api.get("/api/v1/queues/overdue/?priority=normal").json()["summary"]
        scoped = client_for(name="pets", kinds=("pet-cs-inquiry",)).get("/api/v1/queues/overdue/").json()["summary"]
        client.force_login(supervisor)
        page = client.get("/supervisor/").content.decode()
        penalties = client.get("/supervisor/?kind=driver-penalty-request").content.decode()
        by_agent = client.get(f"/supervisor/?agent={agent.pk}").content.decode()
    assert whole["total"] == 2 and whole["as_of"] == "2026-11-25T12:00:00+09:00"
    assert filtered["total"] == 3  # filtered: counted live
    assert scoped["total"] == 1 and set(scoped["by_kind"]) == {tickets[1].kind.name}  # scoped: live
    assert "전체 2건" in page and "전체 1건" in penalties  # the rollup, narrowed to one kind
    assert "전체 3건" in by_agent  # an agent filter is counted live
    # The page says how old its counts are: the rollup's time, or counted now.
    assert "2026-11-25 (수) 12:00 기준 건수 (5초 전에 셈, 1분마다 새로 셉니다)" in page
    assert "2026-11-25 (수) 12:00 기준 건수 (지금 셈)" in by_agent
