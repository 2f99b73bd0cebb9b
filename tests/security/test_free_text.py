"""Finding 3: a phone number or an e-mail address typed into a title, a kind's text field, a
re-contact note or any memo was stored in clear, returned to any read key and shown to every
console role, around the encrypted contact field and its audited reveal."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cstrack import pii
from cstrack.actors import Actor
from cstrack.errors import DomainValidationError
from tests.api.helpers import penalty_body
from tests.console.test_pages import PENALTY_POST, _error_next_to
from tests.tickets.conftest import operator  # noqa: F401 (on every board: the access policy scopes operations staff)
from tickets.followups import changes
from tickets.lifecycle import services
from tickets.models import FollowUp, ReContact, Ticket
from tickets.privacy import consent, contact

CONTACTS = [
    "010-2468-1357",
    "01024681357",
    "010 2468 1357",
    "010.2468.1357",
    "+82 10 2468 1357",
    "+82-10-2468-1357",
    "(010) 2468-1357",
    "０１０-２４６８-１３５７",
    "02-345-6789",
    "031-123-4567",
    "hong.gildong@example.com",
]
ORDINARY = [
    "2026-11-22 접수, 2026.11.25 재문의",
    "14:30에 배정, 15:05 취소",
    "금액 1,234,500원 / 환불 33,000원",
    "차량 12가3456, 123가4567",
    "접수번호 CS-20261122-0001 관련",
    "기사 ID DRV-1024681357, 콜 ID CALL-0001",
    "회원 ID M0101234567",
    "3회 연속 노쇼, 7일 정지",
    "주차장 대표번호 1588-1234로 안내",
    "정기권 2026년 12월분 (30일)",
    "계좌 110-123-456789 로 환불 예정",
    "",
]


@pytest.mark.parametrize("text", CONTACTS)
def test_detector_finds_every_spelling(text):
    for shape in (text, f"고객이 {text} 로 연락 달라고 함", f"{text}(본인)"):
        assert pii.contact_in_text(shape), shape


@pytest.mark.parametrize("text", ORDINARY)
def test_detector_leaves_ordinary_numbers_alone(text):
    assert pii.contact_in_text(text) == ""


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.dates().map(lambda d: d.isoformat()),
        st.integers(0, 10**9).map(lambda n: f"{n:,}원"),
        st.from_regex(r"\A[0-9]{2,3}[가-힣][0-9]{4}\Z"),
        st.from_regex(r"\ACS-20[0-9]{6}-[0-9]{4}\Z"),
        st.from_regex(r"\A(DRV|CALL|M)-?[0-9]{1,12}\Z"),
        st.times().map(lambda t: t.strftime("%H:%M")),
    )
)
def test_ordinary_numbers_are_never_taken_for_contact_data(text):
    assert pii.contact_in_text(text) == ""


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["010", "011", "016", "017", "018", "019"]),
    st.from_regex(r"\A[0-9]{4}\Z"),
    st.from_regex(r"\A[0-9]{4}\Z"),
    st.sampled_from(["-", " ", ".", "", " - "]),
    st.text(alphabet="고객연락처요청 ,", max_size=10),
)
def test_any_mobile_number_in_text_is_found(prefix, middle, last, sep, around):
    assert pii.contact_in_text(f"{around}{prefix}{sep}{middle}{sep}{last}{around}") == "phone"


pytestmark = pytest.mark.django_db


def _field_error(exc_info, field):
    (message,) = exc_info.value.field_errors[field]
    assert "연락처" in message and "암호화" in message, message  # says where the number belongs
    return message


@pytest.mark.parametrize("text", ["고객 010-2468-1357 회신", "고객 hong.gildong@example.com"])
def test_services_refuse_contact_data_in_every_free_text(text, make_ticket, agent, operator, supervisor):  # noqa: F811
    a, o, s = Actor.for_user(agent), Actor.for_user(operator), Actor.for_user(supervisor)
    with pytest.raises(DomainValidationError) as caught:
        make_ticket(title=text)
    _field_error(caught, "title")
    with pytest.raises(DomainValidationError) as caught:
        make_ticket(details={**penalty_body()["details"], "description": text})
    _field_error(caught, "details.description")
    ticket = make_ticket(customer_phone="010-9999-0000", consent_basis="newly_collected")
    calls = [
        ("title", lambda: services.ticket_update(ticket, actor=a, changes={"title": text})),
        (
            "details.description",
            lambda: services.ticket_update(ticket, actor=a, changes={"details": {"description": text}}),
        ),
        ("note", lambda: services.ticket_log_recontact(ticket, actor=a, note=text)),
        ("note", lambda: services.ticket_transition(ticket, to_status="in_progress", actor=o, note=text)),
        ("reason", lambda: services.ticket_record_outcome(ticket, outcome="warning", actor=o, reason=text)),
        ("manager_name", lambda: services.ticket_confirm_manager(ticket, manager_name=text, actor=o)),
        ("note", lambda: consent.ticket_withdraw_consent(ticket, actor=a, note=text)),
        ("reason", lambda: contact.ticket_reveal_contact(ticket, actor=s, reason=text)),
        ("reason", lambda: contact.ticket_purge_contact(ticket, actor=s, reason=text)),
    ]
    for field, call in calls:
        with pytest.raises(DomainValidationError) as caught:
            call()
        _field_error(caught, field)
    fu = FollowUp.objects.filter(ticket=ticket).first()
    if fu is not None:
        for field, call in [
            ("reason", lambda: changes.followup_cancel(fu, reason=text, actor=s)),
            ("reason", lambda: changes.followup_reschedule(fu, due_at=fu.due_at, reason=text, actor=s)),
        ]:
            with pytest.raises(DomainValidationError) as caught:
                call()
            _field_error(caught, field)
    ticket.refresh_from_db()
    assert text not in ticket.title and not ReContact.objects.exists() and ticket.consent_withdrawn_at is None


def test_api_answers_a_field_error(api, problem_json):
    body = problem_json(api.post("/api/v1/tickets/", penalty_body(title="회신 010-2468-1357"), format="json"), 400)
    assert "title" in body["errors"]
    assert not Ticket.objects.exists()
    details = {**penalty_body()["details"], "description": "메일 hong.gildong@example.com 로"}
    body = problem_json(api.post("/api/v1/tickets/", penalty_body(details=details), format="json"), 400)
    assert "details.description" in body["errors"]


def test_ordinary_numbers_pass_through_the_services(make_ticket):
    details = {
        **penalty_body()["details"],
        "description": "2026-11-20 14:30 콜 CS-20261122-0001, 차량 12가3456, 33,000원",
    }
    ticket = make_ticket(title="12가3456 / CS-20261122-0001 / 2026-11-20", details=details, driver_id="DRV-1")
    assert ticket.details["description"] == details["description"]


def test_console_shows_the_error_next_to_the_field_and_keeps_the_rest(client, agent):
    client.force_login(agent)
    post = {**PENALTY_POST, "title": "회신 010-2468-1357", "details.description": "배정 후 무단 취소 3회째"}
    response = client.post("/tickets/new/", post)
    assert response.status_code == 400
    html = response.content.decode()
    assert "고객 연락처 칸" in _error_next_to(html, "f-title")
    assert "배정 후 무단 취소 3회째" in html  # what else the agent typed is still there
    assert "DRV-1" in html
    assert not Ticket.objects.exists()
