"""The supervisor's promise report page: figures, chart, drill-down, CSV, errors, scoping."""

import csv
import io

import pytest
import time_machine

from tests.conftest import make_user

from .histories import CALLBACK, call_back_at, kst, recontacted

pytestmark = pytest.mark.django_db
URL = "/supervisor/reports/"
AS_OF = kst(2026, 12, 30, 12, 0)
RANGE = {"from": "2026-11-23", "to": "2026-11-29", "period": "week", "promise": CALLBACK}


@pytest.fixture
def week(create, actor):
    kept = recontacted(create, actor, (2026, 11, 23, 10, 0))
    call_back_at(kept, actor, (2026, 11, 24, 10, 0))
    late = recontacted(create, actor, (2026, 11, 23, 11, 0))
    call_back_at(late, actor, (2026, 11, 25, 21, 0))
    broken = recontacted(create, actor, (2026, 11, 23, 12, 0))
    return {"kept": kept, "late": late, "broken": broken}


@pytest.fixture
def as_supervisor(client, supervisor):
    client.user = supervisor
    return client


def get(client, url, params):
    """GET at AS_OF (logged in then: sessions expire)."""
    with time_machine.travel(AS_OF, tick=False):
        if getattr(client, "user", None):
            client.force_login(client.user)
        return client.get(url, params)


def test_page_shows_the_figures_and_a_chart(week, as_supervisor):
    r = get(as_supervisor, URL, RANGE)
    assert r.status_code == 200
    html = r.content.decode()
    assert "약속 이행 보고" in html and "<svg" in html and "기한 내 이행" in html
    assert r.context["totals_raw"].made == 3
    assert r.context["totals"]["rate"] == "33.3%"
    assert r.context["totals"]["median"] == "3.0시간"
    bars = r.context["chart"]["bars"]
    assert len(bars) == 1 and "늦음 1" in bars[0]["title"]


def test_every_number_links_to_the_promises_behind_it(week, as_supervisor):
    r = get(as_supervisor, URL, RANGE)
    broken_cell = next(c for c in r.context["rows"][0]["cells"] if c["name"] == "broken")
    assert broken_cell["value"] == 1
    drilled = get(as_supervisor, URL + broken_cell["href"].split("#")[0], {})
    assert drilled.status_code == 200
    refs = [p["reference"] for p in drilled.context["drill"]["rows"]]
    assert refs == [week["broken"].reference]
    assert f"/tickets/{week['broken'].reference}/" in drilled.content.decode()


def test_csv_exports_with_bom(week, as_supervisor):
    r = get(as_supervisor, "/supervisor/reports/export.csv", RANGE)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][0] == "기간 시작"
    assert rows[1][0] == "2026-11-23" and rows[1][2:8] == ["3", "1", "1", "1", "0", "0"]
    assert rows[-1][0] == "합계"
    drill = get(as_supervisor, "/supervisor/reports/export.csv", {**RANGE, "figure": "late"})
    lines = list(csv.reader(io.StringIO(drill.content.decode("utf-8")[1:])))
    assert [line[0] for line in lines[1:]] == [week["late"].reference]


def test_bad_filters_are_shown_next_to_the_field(as_supervisor):
    r = get(as_supervisor, URL, {"from": "2026-12-10", "to": "2026-12-01"})
    assert r.status_code == 400
    assert "시작일이 종료일보다 늦습니다." in r.content.decode()
    assert get(as_supervisor, URL, {"period": "year"}).status_code == 400
    assert get(as_supervisor, URL, {**RANGE, "figure": "all"}).status_code == 400
    assert get(as_supervisor, "/supervisor/reports/export.csv", {"from": "x"}).status_code == 400


def test_only_supervisors_open_it(client, agent, operator):
    for user in (agent, operator):
        client.force_login(user)
        assert client.get(URL).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302


def test_the_nav_links_it_for_supervisors(client, supervisor):
    client.force_login(supervisor)
    assert 'href="/supervisor/reports/"' in client.get("/supervisor/").content.decode()


def test_a_supervisor_who_is_board_scoped_sees_only_that_board(week, client, create, actor):
    """Board scoping is the access policy's: a supervisor counts every ticket; the page asks
    the policy rather than deciding itself (an operations-only user cannot open the page)."""
    other = recontacted(create, actor, (2026, 11, 23, 10, 0), kind="driver-compensation-demand")
    client.user = make_user("boss", "supervisor")
    r = get(client, URL, RANGE)
    assert r.context["totals_raw"].made == 4
    assert other.board_id != week["kept"].board_id
