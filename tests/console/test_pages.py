"""Console behaviour through Django's test client: access by role, server messages next to the
fields, masked contact data, and each action calling its service."""

import pytest
from django.test import Client

from cstrack import calendar
from notifications.models import Message
from tickets.models import EventType, FollowUp, FollowUpState, ReContact, Status, Ticket

pytestmark = pytest.mark.django_db

PENALTY_POST = {
    "kind": "driver-penalty-request",
    "driver_id": "DRV-1",
    "customer_phone": "010-9876-5432",
    "consent_basis": "newly_collected",
    "identity_verified": "true",
    "channel": "phone",
    "priority": "normal",
    "details.penalty_board": "koc",
    "details.call_type": "own_normal",
    "details.violation": "no_show",
    "details.incident_date": "2026-11-20",
    "details.description": "배정 후 취소",
    "details.feedback_requested": "true",
}


def _error_next_to(html: str, field_id: str) -> str:
    """The error text rendered for the input with this id."""
    marker = f'id="{field_id}-err">'
    assert marker in html, f"no error shown for {field_id}"
    return html.split(marker, 1)[1].split("<", 1)[0]


# --- Access ----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get("/supervisor/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_is_korean_and_labelled(client):
    html = client.get("/login/").content.decode()
    assert '<html lang="ko">' in html
    assert '<label for="id_username">아이디</label>' in html
    assert '<label for="id_password">비밀번호</label>' in html


def test_login_then_role_home(client, operator):
    response = client.post("/login/", {"username": "ops1", "password": "pw-ops1"})
    assert response.status_code == 302
    assert client.get("/")["Location"] == "/ops/"


@pytest.mark.parametrize(("who", "home"), [("agent", "/agent/"), ("operator", "/ops/"), ("supervisor", "/supervisor/")])
def test_home_by_role(request, login, who, home):
    assert login(request.getfixturevalue(who)).get("/")["Location"] == home


def test_navigation_by_role(login, agent, supervisor):
    html = login(agent).get("/agent/").content.decode()
    assert "티켓 접수" in html and "기한 지남·위반" not in html and "게시판 처리" not in html
    html = login(supervisor).get("/supervisor/").content.decode()
    assert "기한 지남·위반" in html and "발송 실패 메시지" in html


@pytest.mark.parametrize("url", ["/supervisor/", "/supervisor/export.csv", "/supervisor/messages/", "/ops/"])
def test_agent_cannot_open_other_roles_pages(login, agent, url):
    assert login(agent).get(url).status_code == 403


def test_a_login_without_a_role_sees_no_ticket(login, make_ticket):
    from tests.conftest import make_user

    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    client = login(make_user("norole"))
    assert client.get(f"/tickets/{ticket.reference}/").status_code == 403
    assert "010-****-5678" not in client.get("/").content.decode()


def test_operations_staff_see_only_their_boards_tickets(login, make_ticket):
    from cstrack import roles
    from tests.conftest import make_user
    from tickets.models import Board

    koc_only = make_user("ops-koc", roles.OPERATIONS)
    koc = Board.objects.get(code="penalty-koc")
    koc_only.boards.add(koc)
    mine = make_ticket()
    other = make_ticket(kind="pet-cs-inquiry", details={"issue_type": "payment", "description": "문의"})
    assert mine.board == koc and other.board != koc
    client = login(koc_only)
    assert client.get(f"/tickets/{mine.reference}/").status_code == 200
    assert client.get(f"/tickets/{other.reference}/").status_code == 404
    page = client.get(f"/ops/?board={other.board.code}&ticket={other.reference}")
    assert page.status_code == 404
    listed = client.get(f"/ops/?board={other.board.code}").content.decode()
    assert other.reference not in listed and other.board.name not in listed


def test_operations_cannot_log_tickets(login, operator):
    assert login(operator).get("/tickets/new/").status_code == 403


def test_logout_is_a_post(login, agent):
    client = login(agent)
    assert client.post("/logout/").status_code == 302
    assert client.get("/agent/").status_code == 302


# --- New ticket --------------------------------------------------------------------------------


def test_every_kind_renders_a_labelled_form(login, agent):
    from tickets.models import TicketKind

    client = login(agent)
    for kind in TicketKind.objects.all():
        html = client.get(f"/tickets/new/?kind={kind.code}").content.decode()
        schema = kind.schema_versions.order_by("-version").first().schema
        for field in schema["fields"]:
            if field["type"] == "multichoice":
                continue
            assert f'for="f-details-{field["name"]}"' in html, (kind.code, field["name"])
            assert f'id="f-details-{field["name"]}"' in html


def test_required_when_is_exposed_to_the_script(login, agent):
    html = login(agent).get("/tickets/new/?kind=pet-cancel-penalty-exemption").content.decode()
    assert "data-required-when='{&quot;request_type&quot;: &quot;collect&quot;}'" in html


def test_create_shows_server_messages_next_to_fields(login, agent):
    client = login(agent)
    post = {**PENALTY_POST, "details.violation": "", "driver_id": ""}
    response = client.post("/tickets/new/", post)
    assert response.status_code == 400
    html = response.content.decode()
    assert _error_next_to(html, "f-details-violation") == "필수 항목입니다."
    assert "기사 ID: 필수 항목입니다." in _error_next_to(html, "f-driver_id")
    assert 'value="010-9876-5432"' in html  # what the agent typed is kept

    html = client.post("/tickets/new/", {**PENALTY_POST, "consent_basis": ""}).content.decode()
    assert "근거를 선택해" in _error_next_to(html, "f-consent_basis")
    assert Ticket.objects.count() == 0


def test_create_bad_phone_and_date(login, agent):
    client = login(agent)
    html = client.post("/tickets/new/", {**PENALTY_POST, "customer_phone": "12"}).content.decode()
    assert "올바른 전화번호가 아닙니다" in _error_next_to(html, "f-customer_phone")
    html = client.post("/tickets/new/", {**PENALTY_POST, "details.incident_date": "어제"}).content.decode()
    assert "날짜 형식" in _error_next_to(html, "f-details-incident_date")


def test_create_penalty_request(login, agent):
    response = login(agent).post("/tickets/new/", PENALTY_POST)
    ticket = Ticket.objects.get()
    assert response["Location"] == f"/tickets/{ticket.reference}/"
    assert ticket.details["feedback_requested"] is True
    assert ticket.identity_verified and ticket.created_by == agent
    html = login(agent).get(response["Location"]).content.decode()
    assert "010-****-5432" in html and "010-9876-5432" not in html and "+821098765432" not in html
    assert calendar.business_time_label(ticket.received_at) in html


def test_datetime_field_is_read_as_kst(login, agent):
    post = {
        "kind": "pet-cs-inquiry",
        "details.issue_type": "app_error",
        "details.description": "앱이 멈춤",
        "details.occurred_at": "2026-11-20T14:30",
    }
    login(agent).post("/tickets/new/", post)
    assert Ticket.objects.get().details["occurred_at"] == "2026-11-20T14:30:00+09:00"


def test_matching_lookup_json(login, agent, make_ticket):
    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected", call_id="CALL-1")
    client = login(agent)
    data = client.post("/tickets/matching/", {"phone": "01012345678"}).json()
    assert [r["reference"] for r in data["results"]] == [ticket.reference]
    assert data["results"][0]["phone"] == "010-****-5678"
    assert "재인입으로 기록할까요" in data["results"][0]["offer"]
    assert (
        client.post("/tickets/matching/", {"call_id": "CALL-1"}).json()["results"][0]["reference"] == ticket.reference
    )
    assert client.post("/tickets/matching/", {"phone": "010-12"}).json()["results"] == []


def test_matching_lookup_takes_no_number_in_the_url(login, agent, make_ticket):
    """The repeat-contact lookup is a POST like the search box: a GET with a phone in the query
    string finds nothing (405), and a POST without the CSRF token is refused."""
    make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    response = login(agent).get("/tickets/matching/?phone=01012345678")
    assert response.status_code == 405
    assert b"5678" not in response.content
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(agent)
    assert strict.post("/tickets/matching/", {"phone": "01012345678"}).status_code == 403
    strict.get("/tickets/new/?kind=driver-penalty-request")  # the form sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    found = strict.post("/tickets/matching/", {"phone": "01012345678", "csrfmiddlewaretoken": token})
    assert found.status_code == 200 and len(found.json()["results"]) == 1


# --- Ticket page ---------------------------------------------------------------------------------


def test_recontact_shows_what_to_promise(login, agent, make_ticket):
    ticket = make_ticket()
    client = login(agent)
    response = client.post(
        f"/tickets/{ticket.reference}/recontact/", {"channel": "phone", "note": "또 문의"}, follow=True
    )
    recontact = ReContact.objects.get(ticket=ticket)
    html = response.content.decode()
    assert "1~2영업일" in html
    assert calendar.business_time_label(recontact.promised_by) in html


def test_reveal_needs_a_reason_and_is_recorded(login, operator, make_ticket):
    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    client = login(operator)
    html = client.get(f"/tickets/{ticket.reference}/").content.decode()
    assert "010-****-5678" in html and "010-1234-5678" not in html

    response = client.post(f"/tickets/{ticket.reference}/reveal/", {"reason": ""})
    assert response.status_code == 400
    assert "사유를 입력해" in response.content.decode()

    response = client.post(f"/tickets/{ticket.reference}/reveal/", {"reason": "고객 회신 전화"})
    assert response.status_code == 200
    assert "010-1234-5678" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert ticket.events.filter(type=EventType.CONTACT_REVEALED, data__reason="고객 회신 전화").exists()
    # Shown once: the next page view is masked again.
    assert "010-1234-5678" not in client.get(f"/tickets/{ticket.reference}/").content.decode()


def test_agent_may_not_reveal(login, agent, make_ticket):
    ticket = make_ticket(customer_phone="010-1234-5678", consent_basis="newly_collected")
    client = login(agent)
    assert "연락처 원문 보기" not in client.get(f"/tickets/{ticket.reference}/").content.decode()
    assert client.post(f"/tickets/{ticket.reference}/reveal/", {"reason": "x"}).status_code == 403


def test_outcome_reason_error_is_next_to_the_field(login, operator, make_ticket):
    ticket = make_ticket()
    response = login(operator).post(f"/tickets/{ticket.reference}/outcome/", {"outcome": "no_action", "reason": ""})
    assert response.status_code == 400
    assert "관리자 컨펌 사유" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.outcome == ""


def test_consent_basis_the_ticket_rules_out_is_explained_on_the_page(login, agent, make_ticket):
    """A basis the stored ticket rules out ("verify only" while a number is stored) is a
    conflict: the ticket page comes back with the reason, nothing is recorded; a basis that
    fits then works."""
    ticket = make_ticket(member_id="M-1", customer_phone="010-1234-5678", consent_basis="newly_collected")
    client = login(agent)
    wrong = client.post(f"/tickets/{ticket.reference}/consent/", {"consent_basis": "verify_only"})
    assert wrong.status_code == 409
    assert "저장된 개인정보가 있어" in wrong.content.decode()
    ticket.refresh_from_db()
    assert ticket.consent_basis == "newly_collected"
    right = client.post(f"/tickets/{ticket.reference}/consent/", {"consent_basis": "existing_member"})
    assert right.status_code == 302
    ticket.refresh_from_db()
    assert ticket.consent_basis == "existing_member"


def test_outcome_from_ops_queue_returns_there(login, operator, make_ticket):
    ticket = make_ticket()
    next_url = f"/ops/?board=penalty-koc&ticket={ticket.reference}"
    response = login(operator).post(
        f"/tickets/{ticket.reference}/outcome/",
        {"outcome": "suspension", "driver_blocked_shown": "1", "driver_blocked": "1", "next": next_url},
    )
    assert response["Location"] == next_url
    ticket.refresh_from_db()
    assert (ticket.outcome, ticket.driver_blocked, ticket.status) == ("suspension", True, Status.ACTION_TAKEN)


def test_outcome_next_must_be_local(login, operator, make_ticket):
    ticket = make_ticket()
    response = login(operator).post(
        f"/tickets/{ticket.reference}/outcome/", {"outcome": "warning", "next": "https://evil.example/"}
    )
    assert response["Location"] == f"/tickets/{ticket.reference}/"


@pytest.mark.parametrize("target", ["0", "supervisor", "//evil.example/x", "javascript:alert(1)"])
def test_a_next_that_is_not_a_local_path_falls_back(login, agent, make_ticket, target):
    """Found by fuzzing: next=0 made redirect() look up a view named "0" (a 500)."""
    ticket = make_ticket()
    response = login(agent).post(f"/tickets/{ticket.reference}/recontact/", {"note": "재문의", "next": target})
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.reference}/"


def test_conflict_is_shown(login, operator, make_ticket):
    ticket = make_ticket()
    client = login(operator)
    client.post(f"/tickets/{ticket.reference}/outcome/", {"outcome": "warning"})
    response = client.post(f"/tickets/{ticket.reference}/outcome/", {"outcome": "warning"})
    assert response.status_code == 409


def test_transition(login, agent, make_ticket):
    ticket = make_ticket()
    login(agent).post(f"/tickets/{ticket.reference}/transition/", {"to_status": "waiting_customer"})
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_CUSTOMER


def test_penalty_history_beside_the_outcome(login, operator, make_ticket):
    first = make_ticket(driver_id="DRV-5")
    second = make_ticket(driver_id="DRV-5")
    html = login(operator).get(f"/ops/?board=penalty-koc&ticket={second.reference}").content.decode()
    assert "DRV-5 페널티 요청 이력" in html and first.reference in html
    assert "전체 2건" in html and "결과 기록" in html


# --- Follow-ups ----------------------------------------------------------------------------------


def test_reschedule_needs_reason_and_reads_kst(login, supervisor, overdue_tickets):
    (ticket,) = overdue_tickets(1)
    fu = FollowUp.objects.filter(ticket=ticket).first()
    client = login(supervisor)
    response = client.post(f"/followups/{fu.pk}/reschedule/", {"due_at": "2030-01-02T10:00", "reason": ""})
    assert response.status_code == 400
    assert "변경 사유를 입력해" in response.content.decode()

    client.post(f"/followups/{fu.pk}/reschedule/", {"due_at": "2030-01-02T10:00", "reason": "고객 요청"})
    fu.refresh_from_db()
    assert calendar.business_time_label(fu.due_at) == "2030-01-02 (수) 10:00"


def test_cancel_followup(login, supervisor, overdue_tickets):
    (ticket,) = overdue_tickets(1)
    fu = FollowUp.objects.filter(ticket=ticket).first()
    login(supervisor).post(f"/followups/{fu.pk}/cancel/", {"reason": "중복 접수"})
    fu.refresh_from_db()
    assert fu.state == FollowUpState.CANCELLED and fu.reason == "중복 접수"


def test_agent_may_not_reschedule(login, agent, overdue_tickets):
    (ticket,) = overdue_tickets(1)
    fu = FollowUp.objects.filter(ticket=ticket).first()
    assert login(agent).post(f"/followups/{fu.pk}/cancel/", {"reason": "x"}).status_code == 403


def test_callback_completed_from_agent_home(login, agent, callbacks_due):
    callbacks_due(1)
    fu = FollowUp.objects.get(action="call_back")
    client = login(agent)
    assert fu.ticket.reference in client.get("/agent/").content.decode()
    client.post(f"/followups/{fu.pk}/complete/", {"note": "통화함", "next": "/agent/"})
    fu.refresh_from_db()
    assert fu.state == FollowUpState.DONE
    assert "회신 전화가 없습니다" in client.get("/agent/").content.decode()


# --- Supervisor ----------------------------------------------------------------------------------


def test_supervisor_queue_filters_and_buckets(login, supervisor, agent, overdue_tickets, make_ticket):
    (late,) = overdue_tickets(1)
    fresh = make_ticket()
    client = login(supervisor)
    html = client.get("/supervisor/").content.decode()
    assert late.reference in html and fresh.reference not in html
    assert "1~3일" in html
    by_assignee = html.split("담당자별", 1)[1]
    assert f"{late.assignee.username if late.assignee else '(미배정)'} <strong>1</strong>" in by_assignee
    assert late.reference not in client.get("/supervisor/?kind=pet-cs-inquiry").content.decode()
    assert late.reference in client.get(f"/supervisor/?agent={agent.pk}").content.decode()
    assert late.reference not in client.get("/supervisor/?breached=1").content.decode()


def test_supervisor_table_shows_fifty_rows_then_fifty_more_on_request(login, supervisor, overdue_copies):
    overdue_copies(205)
    client = login(supervisor)

    def table(url):
        html = client.get(url).content.decode()
        return html, html.count('name="ticket" value=')

    html, shown = table("/supervisor/?kind=driver-penalty-request")
    assert shown == 50
    assert 'href="?kind=driver-penalty-request&amp;rows=100#row-51"' in html  # the filter kept
    assert "앞의 50건을 표시했습니다." in html and "더 보기 (최대 50건 추가)" in html and "앞의 200건만" not in html
    html, shown = table("/supervisor/?kind=driver-penalty-request&rows=100")
    assert shown == 100 and '<tr id="row-51"' in html and "rows=150#row-101" in html
    # The export and the age chips start from the filters alone, not from the rows shown.
    assert 'export.csv?kind=driver-penalty-request"' in html and "age=1-3d&amp;rows" not in html
    html, shown = table("/supervisor/?rows=200")
    assert shown == 200 and "앞의 200건만 표시합니다" in html and "더 보기" not in html
    assert [table(f"/supervisor/?rows={wrong}")[1] for wrong in ("abc", "0", "-50", "99999")] == [50, 50, 50, 200]


def test_no_more_link_when_the_queue_fits(login, supervisor, overdue_copies):
    overdue_copies(51)
    Ticket.objects.filter(pk__in=Ticket.objects.order_by("pk").values("pk")[:50]).update(breached_at=calendar.now())
    client = login(supervisor)
    breached = client.get("/supervisor/?breached=1").content.decode()
    assert breached.count('name="ticket" value=') == 50 and "더 보기" not in breached
    assert 'class="breached"' in breached and "위반</span>" in breached  # the breach mark on each row
    assert "더 보기" in client.get("/supervisor/").content.decode()


def test_csv_export_is_masked(login, supervisor, overdue_tickets):
    (ticket,) = overdue_tickets(1, customer_phone="010-1234-5678", consent_basis="newly_collected")
    response = login(supervisor).get("/supervisor/export.csv")
    body = response.content.decode("utf-8-sig")
    assert response["Content-Type"].startswith("text/csv")
    assert body.splitlines()[0].startswith("접수 번호,유형")
    assert ticket.reference in body and "010-****-5678" in body
    assert "1234-5678" not in body and "+8210" not in body


def test_dead_letter_retry(login, supervisor, dead_messages):
    (message,) = dead_messages(1)
    client = login(supervisor)
    assert "010-****-5678" in client.get("/supervisor/messages/").content.decode()
    response = client.post(f"/supervisor/messages/{message.pk}/retry/", follow=True)
    message.refresh_from_db()
    assert message.state == Message.State.PENDING
    assert "다시 발송 대기열" in response.content.decode()
    response = client.post(f"/supervisor/messages/{message.pk}/retry/", follow=True)
    assert "발송 실패(보류) 상태의 메시지만" in response.content.decode()


SEASON_PASS = {
    "pass_link": "linked",
    "cause": "operator_missing",
    "occurred_on": "2026-11-18",
    "exit_handling": "call_button",
    "onsite_payment": True,
    "onsite_payment_amount": 5000,
    "pass_paid_amount": 100000,
    "pass_usable_days": 30,
    "pass_used_days": 12,
}


def test_season_pass_rules_are_shown_and_the_coupon_granted_once(login, operator, make_ticket):
    refs = {"vehicle_plate": "12가3456", "parking_lot": "판교역 공영주차장", "member_id": "M-77"}
    first = make_ticket("parking-season-pass-registration", details=dict(SEASON_PASS), **refs)
    second = make_ticket("parking-season-pass-registration", details=dict(SEASON_PASS), **refs)
    client = login(operator)
    html = client.get(f"/tickets/{first.reference}/").content.decode()
    assert "정기권 보상 기준" in html and "2회차부터 쿠폰 대상" in html and "쿠폰 지급 기록" not in html
    html = client.get(f"/tickets/{second.reference}/").content.decode()
    assert "3,000원 쿠폰 대상" in html and "3,000원 쿠폰 지급 기록" in html
    from tickets import selectors

    assert f"{selectors.season_pass_refund(second):,}원" in html
    response = client.post(f"/tickets/{second.reference}/coupon/")
    assert response.status_code == 302
    assert Ticket.objects.get(pk=second.pk).compensation_krw == 3000
    html = client.get(f"/tickets/{second.reference}/").content.decode()
    assert "3,000원 지급함" in html and "쿠폰 지급 기록" not in html
    # A second grant is refused, next to the panel.
    again = client.post(f"/tickets/{second.reference}/coupon/")
    assert again.status_code == 409 and "이미 쿠폰" in again.content.decode()


def test_attachments_upload_list_and_audited_download(login, agent, operator, make_ticket, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tickets.models import EventType

    settings.MEDIA_ROOT = str(tmp_path)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    ticket = make_ticket()
    agent_client = login(agent)
    refused = agent_client.post(
        f"/tickets/{ticket.reference}/attach/", {"file": SimpleUploadedFile("memo.txt", b"just text")}
    )
    assert refused.status_code == 400 and "PDF, PNG, JPEG" in refused.content.decode()
    done = agent_client.post(f"/tickets/{ticket.reference}/attach/", {"file": SimpleUploadedFile("영수증.pdf", pdf)})
    assert done.status_code == 302
    html = agent_client.get(f"/tickets/{ticket.reference}/").content.decode()
    attachment = ticket.attachments.get()
    assert "영수증.pdf" in html and f"/attachments/{attachment.pk}/" not in html  # agents cannot download
    assert agent_client.get(f"/attachments/{attachment.pk}/").status_code == 403
    ops_client = login(operator)
    assert f"/attachments/{attachment.pk}/" in ops_client.get(f"/tickets/{ticket.reference}/").content.decode()
    download = ops_client.get(f"/attachments/{attachment.pk}/")
    assert download.status_code == 200 and download.content == pdf
    assert download["Cache-Control"].startswith("no-store") or "no-store" in download["Cache-Control"]
    assert "attachment;" in download["Content-Disposition"]
    assert ticket.events.filter(type=EventType.ATTACHMENT_DOWNLOADED).count() == 1


def test_delegation_is_recorded_revealed_and_revoked_from_the_ticket_page(login, operator, make_ticket):
    from tickets.models import EventType, ThirdPartyDelegation

    ticket = make_ticket(
        customer_phone="010-3333-4444",
        consent_basis="third_party_delegated",
        delegation_caller="호출자 본인(회원)",
        delegation_relation="spouse",
    )
    client = login(operator)
    # The ticket's contact is a third party: no reveal before a delegation record names it.
    refused = client.post(f"/tickets/{ticket.reference}/reveal/", {"reason": "회신"})
    assert refused.status_code == 409 and "위임 기록" in refused.content.decode()
    bad = client.post(
        f"/tickets/{ticket.reference}/delegate/",
        {"relation": "spouse", "case": "spouse_accident_or_rm", "caller": "호출자 본인(회원)",
         "third_party_phone": "010-3333-4444"},
    )  # fmt: skip
    assert bad.status_code == 400 and "동의" in bad.content.decode()  # a non-member needs consent
    done = client.post(
        f"/tickets/{ticket.reference}/delegate/",
        {"relation": "spouse", "case": "spouse_accident_or_rm", "caller": "호출자 본인(회원)",
         "third_party_phone": "010-3333-4444", "third_party_consented": "on"},
    )  # fmt: skip
    assert done.status_code == 302
    record = ThirdPartyDelegation.objects.get(ticket=ticket)
    page = client.get(f"/tickets/{ticket.reference}/").content.decode()
    assert "010-****-4444" in page and "010-3333-4444" not in page
    shown = client.post(f"/tickets/{ticket.reference}/delegations/{record.pk}/reveal/", {"reason": "사고 안내"})
    assert shown.status_code == 200 and "010-3333-4444" in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    assert client.post(f"/tickets/{ticket.reference}/reveal/", {"reason": "회신"}).status_code == 200
    client.post(f"/tickets/{ticket.reference}/revoke-delegation/", {"delegation": record.pk})
    assert ThirdPartyDelegation.objects.get(pk=record.pk).revoked_at is not None
    assert client.post(f"/tickets/{ticket.reference}/reveal/", {"reason": "회신"}).status_code == 409
    assert ticket.events.filter(type=EventType.CONTACT_REVEALED).count() == 2
