"""One Korean vocabulary (docs/glossary.md): the console pages use the chosen term for each
concept and never show staff a stored code or an English actor name."""

import re
from pathlib import Path

import pytest

from notifications.models import MessageTemplate
from tickets.followups import changes as followup_changes
from tickets.lifecycle import services
from tickets.models import Action, FollowUp, TicketKind

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
# Words the glossary replaced, as they could appear in a page.
RETIRED = ["기한 초과", "통화 완료", "고객 회신 전화", ">system<", "system</", "warning", "call_back", "no_show"]


def _visible_text(html: str) -> str:
    """Text nodes only (attribute values such as option codes are not shown)."""
    html = re.sub(r"<script.*?</script>|<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def busy_ticket(make_ticket, agent, operator, supervisor):
    """A ticket with an outcome, a re-contact, a completed call-back and a system event."""
    ticket = make_ticket(customer_phone="010-2727-3838", consent_basis="newly_collected")
    services.ticket_log_recontact(ticket, actor=services.Actor.for_user(agent), note="결과 문의")
    callback = FollowUp.objects.get(ticket=ticket, action=Action.CALL_BACK)
    followup_changes.followup_complete(callback, actor=services.Actor.for_user(agent), note="안내함")
    services.ticket_record_outcome(ticket, outcome="warning", actor=services.Actor.for_user(operator))
    services.ticket_transition(ticket, to_status="resolved", actor=services.SYSTEM)
    return ticket


@pytest.mark.parametrize("who", ["agent", "operator", "supervisor"])
def test_pages_use_the_glossary_terms(request, login, who, busy_ticket):
    user = request.getfixturevalue(who)
    client = login(user)
    urls = [f"/tickets/{busy_ticket.reference}/", "/search/"]
    urls += {"agent": ["/agent/", "/tickets/new/?kind=pet-record-issuance"], "operator": ["/ops/"]}.get(who, [])
    urls += ["/supervisor/", "/supervisor/messages/"] if who == "supervisor" else []
    for url in urls:
        text = _visible_text(client.get(url).content.decode())
        for word in RETIRED:
            assert word not in text, f"{url} shows {word!r}"
        assert not re.search(r"(?<!펫 )메이트", text), f"{url} says 메이트 without 펫"


def test_the_history_names_automatic_actors_in_korean(login, agent, busy_ticket):
    text = _visible_text(login(agent).get(f"/tickets/{busy_ticket.reference}/").content.decode())
    assert "자동 처리" in text and "회신 전화 완료" in text and "처리 결과: 경고" in text


def test_kind_names_and_labels_follow_the_glossary():
    names = list(TicketKind.objects.values_list("name", flat=True))
    assert not [n for n in names if re.search(r"(?<!펫 )메이트", n)]
    compensation = TicketKind.objects.get(code="driver-compensation-demand")
    assert dict(compensation.outcomes)["called_back"] == "회신 전화 완료"


def test_an_sms_names_its_sender_once():
    for template in MessageTemplate.objects.filter(channel="sms"):
        sender = re.match(r"\[([^\]]+)\]", template.body)
        if sender:
            assert template.subject != sender.group(1), template.code


def test_the_readme_says_how_to_change_the_port():
    readme = (ROOT / "README.md").read_text()
    run = (ROOT / "scripts" / "run").read_text()
    assert 'PORT="${PORT:-8000}"' in run
    assert "PORT=8080 scripts/run" in readme


def test_the_glossary_exists_and_names_the_chosen_terms():
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    for term in ("회신 전화 완료", "기한 지남", "기한 위반", "펫 메이트", "자동 처리"):
        assert term in glossary
