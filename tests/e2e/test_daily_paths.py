"""The broken paths of a working day (issue 12), each walked in headless Chromium as the role
that meets it. Every test here failed on the console before the fix it names."""

import re

import pytest
import time_machine
from playwright.sync_api import expect

from cstrack import calendar
from notifications.models import Message
from tickets.lifecycle import services
from tickets.models import Action, FollowUp, FollowUpState, ReContact, Status, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"customer_phone": "010-2468-1357", "consent_basis": "newly_collected"}


def _agent_actor(agent):
    return services.Actor.for_user(agent)


# --- Operations --------------------------------------------------------------------------------


def test_outcome_after_a_validation_error_returns_to_the_queue(page, login, snap, operator, make_ticket):
    """Was: the second submit saved the outcome, then landed on a blank 405 page; and the empty
    outcome listed raw codes ("선택지: warning, suspension...")."""
    ticket = make_ticket()
    login(operator)
    page.get_by_role("link", name=ticket.reference).click()
    page.get_by_role("button", name="결과 기록").click()
    error = page.locator("#outcome .error")
    expect(error).to_contain_text("경고")
    expect(error).not_to_contain_text("warning")
    page.get_by_label("결과", exact=True).select_option(label="조치 없음 (관리자 컨펌 후 페널티 미작성)")
    page.get_by_role("button", name="결과 기록").click()
    expect(page.locator("#outcome .error")).to_contain_text("관리자 컨펌 사유")
    snap("reason-missing")
    page.get_by_label("사유·메모").fill("관리자 컨펌 후 미작성")
    page.get_by_role("button", name="결과 기록").click()

    expect(page.locator(".messages")).to_contain_text("처리 결과를 기록했습니다")
    expect(page).to_have_url(re.compile(r"/ops/\?board=penalty-koc&ticket=" + ticket.reference))
    ticket.refresh_from_db()
    assert ticket.outcome == "no_action"


def test_a_finished_ticket_leaves_the_queue_and_its_alert_is_settled(page, login, operator, make_ticket):
    """Was: the ticket stayed in "처리할 티켓" and its "D+3 결과 미기록" alert still said 예정."""
    ticket = make_ticket()
    other = make_ticket()
    login(operator)
    page.get_by_role("link", name=ticket.reference).click()
    page.get_by_label("결과", exact=True).select_option(label="경고")
    page.get_by_role("button", name="결과 기록").click()
    expect(page.locator(".messages")).to_contain_text("처리 결과를 기록했습니다")
    queue = page.locator("#queue")
    expect(queue).to_contain_text(other.reference)
    expect(queue).not_to_contain_text(ticket.reference)

    page.goto(f"/tickets/{ticket.reference}/")
    alert = FollowUp.objects.get(ticket=ticket, action=Action.ALERT_SUPERVISOR)
    item = page.locator(f'[data-followup="{alert.pk}"]')
    expect(item).to_contain_text("생략")
    expect(item).not_to_contain_text("예정")


def test_the_pane_shows_what_operations_decide_on(page, login, snap, operator, agent, make_ticket):
    """Was: a season-pass ticket showed "기사 ID —"; the pane left out the violation, whether the
    customer asked for feedback, and the re-contacts."""
    season = make_ticket(
        kind="parking-season-pass-registration",
        details={
            "pass_link": "linked",
            "cause": "operator_missing",
            "occurred_on": "2026-11-20",
            "exit_handling": "site_ob",
        },
        vehicle_plate="12가3456",
        parking_lot="판교 테크원 주차장",
        member_id="M-1",
    )
    penalty = make_ticket()
    services.ticket_log_recontact(penalty, actor=_agent_actor(agent), note="결과가 언제 나오는지 문의")
    login(operator)
    page.goto(f"/ops/?board={season.board.code}&ticket={season.reference}")
    pane = page.locator(".col").nth(1)
    expect(pane).to_contain_text("판교 테크원 주차장")
    expect(pane).to_contain_text("12가3456")
    expect(pane).not_to_contain_text("기사 ID")

    page.goto(f"/ops/?board=penalty-koc&ticket={penalty.reference}")
    pane = page.locator(".col").nth(1)
    expect(pane).to_contain_text("배정 후 일방 취소/노쇼")
    expect(pane.locator("dt", has_text="고객이 조치 결과 회신 요청")).to_be_visible()
    expect(pane.locator("#recontacts")).to_contain_text("결과가 언제 나오는지 문의")
    snap("pane")


# --- Agent -------------------------------------------------------------------------------------


def test_phone_and_other_errors_in_one_submit(page, login, snap, agent):
    """Was: "예: [phone]" (the scrubber had rewritten the example), and the phone was checked
    only once every other error was fixed: two submits."""
    login(agent)
    page.goto("/tickets/new/?kind=driver-penalty-request")
    page.get_by_label("고객 연락처").fill("010-12")
    page.get_by_label("개인정보 근거").select_option("newly_collected")
    page.get_by_role("button", name="접수하기").click()
    phone_error = page.locator("#f-customer_phone-err")
    expect(phone_error).to_contain_text("올바른 전화번호가 아닙니다")
    expect(phone_error).not_to_contain_text("[phone]")
    violation = page.locator(".field", has=page.get_by_label("위반 항목"))
    expect(violation.locator(".error")).to_have_text("필수 항목입니다.")
    snap("all-errors-at-once")
    assert Ticket.objects.count() == 0


def test_switching_kind_keeps_what_was_typed(page, login, agent):
    """Was: choosing another kind reloaded an empty form."""
    login(agent)
    page.goto("/tickets/new/?kind=driver-penalty-request")
    page.get_by_label("고객 연락처").fill("010-2222-3333")
    page.get_by_label("회원 ID").fill("M-4242")
    page.get_by_label("티켓 유형").select_option(label="보상 요구 담당부서 이관")
    expect(page.get_by_role("group", name="보상 요구 담당부서 이관")).to_be_visible()
    expect(page.get_by_label("고객 연락처")).to_have_value("010-2222-3333")
    expect(page.get_by_label("회원 ID")).to_have_value("M-4242")
    assert "2222" not in page.url  # the number went in a POST body, not the address
    assert Ticket.objects.count() == 0


def test_arrow_keys_on_the_kind_list_do_not_open_a_form(page, login, agent):
    """Was: ArrowDown on the kind <select> submitted it; keyboard users landed on the wrong form."""
    login(agent)
    page.goto("/tickets/new/")
    picker = page.get_by_label("티켓 유형")
    picker.focus()
    picker.press("ArrowDown")
    picker.press("ArrowDown")
    page.wait_for_timeout(300)
    expect(page).to_have_url(re.compile(r"/tickets/new/$"))
    picker.press("Enter")
    expect(page).to_have_url(re.compile(r"kind="))
    expect(page.locator("#ticket-form")).to_be_visible()


def test_recontact_memo_required_shown_and_a_double_submit_merged(page, login, snap, agent, make_ticket):
    """Was: an empty memo was accepted, the memo never shown, and two submits made two sets of
    call-backs and alerts."""
    ticket = make_ticket(**PHONE)
    login(agent)
    page.goto(f"/tickets/{ticket.reference}/#recontact")
    page.get_by_role("button", name="재인입 기록").click()
    expect(page.locator("#recontact-note-err")).to_contain_text("메모")
    assert not ReContact.objects.exists()
    page.get_by_label("고객 문의 메모").fill("처리 결과를 아직 못 받았다고 함")
    page.get_by_role("button", name="재인입 기록").click()
    expect(page.locator(".messages .promise")).to_contain_text("1~2영업일")
    # The same form sent again (a double click, a reload that re-posts):
    page.get_by_label("고객 문의 메모").fill("문자로도 받고 싶다고 함")
    page.get_by_role("button", name="재인입 기록").click()
    expect(page.locator(".messages")).to_contain_text("메모만 덧붙였습니다")
    recontacts = page.locator("#recontacts")
    expect(recontacts).to_contain_text("처리 결과를 아직 못 받았다고 함")
    expect(recontacts).to_contain_text("문자로도 받고 싶다고 함")
    snap("merged")
    assert ReContact.objects.filter(ticket=ticket).count() == 1
    assert FollowUp.objects.filter(ticket=ticket, action=Action.CALL_BACK).count() == 1
    assert FollowUp.objects.filter(ticket=ticket, policy__code="recontact-remind-owner").count() == 1


def test_repeat_contact_prompt_says_what_matched_and_finds_closed_tickets(page, login, snap, agent, make_ticket):
    """Was: "이 고객" although only the driver ID matched, and closed tickets never offered."""
    closed = make_ticket(driver_id="DRV-5150")
    actor = _agent_actor(agent)
    services.ticket_transition(closed, to_status=Status.CANCELLED, actor=actor, note="중복")
    open_one = make_ticket(driver_id="DRV-5150")
    login(agent)
    page.goto("/tickets/new/?kind=driver-penalty-request")
    page.get_by_label("기사 ID").press_sequentially("DRV-5150")
    offer = page.locator("#matches")
    expect(offer).to_contain_text(open_one.reference)
    expect(offer).to_contain_text(closed.reference)
    expect(offer).to_contain_text("기사 ID이(가) 같은 이 기사")
    expect(offer).not_to_contain_text("이 고객")
    expect(offer.get_by_role("link", name=f"지난 티켓 보기 ({closed.reference})")).to_be_visible()
    snap("offer")


# --- Supervisor --------------------------------------------------------------------------------


def test_supervisor_queue_reads_well_and_its_age_chips_filter(page, login, snap, supervisor, make_ticket):
    """Was: "페\\n널티" (Korean broken mid-word), chips that were not links, and a bare "—" under
    "가장 오래된 기한" for a breached ticket with nothing left to do."""
    with time_machine.travel(calendar.days_ago(calendar.now(), 5), tick=False):
        old = make_ticket()
    settled = make_ticket()
    FollowUp.objects.filter(ticket=settled).update(state=FollowUpState.DONE)
    Ticket.objects.filter(pk=settled.pk).update(breached_at=calendar.now(), next_due_at=None)
    login(supervisor)
    page.set_viewport_size({"width": 390, "height": 844})
    cell = page.locator("#overdue td", has_text="대리 기사 페널티 요청").first
    assert cell.evaluate("el => getComputedStyle(el).wordBreak") == "keep-all"
    row = page.locator("#overdue tr", has_text=settled.reference)
    expect(row).to_contain_text("남은 후속 조치 없음")
    expect(page.locator("#oldest-due-help")).to_be_visible()
    snap("narrow")
    page.set_viewport_size({"width": 1366, "height": 768})
    page.locator("ul.chips").get_by_role("link", name=re.compile("1~3일")).click()
    expect(page).to_have_url(re.compile(r"age=1-3d"))
    expect(page.locator("#overdue")).to_contain_text(old.reference)
    expect(page.locator("#overdue")).not_to_contain_text(settled.reference)


def test_dead_letters_link_to_their_ticket(page, login, supervisor, make_ticket):
    ticket = make_ticket(**PHONE)
    message = Message.objects.create(
        idempotency_key="test:dead:linked",
        channel="sms",
        body="본문",
        message_type="SMS",
        recipient="+821024681357",
        recipient_masked="010-****-1357",
        state=Message.State.DEAD,
        attempts=6,
        last_error="gateway 503",
    )
    FollowUp.objects.filter(ticket=ticket, action=Action.CUSTOMER_MESSAGE).update(message=message)
    login(supervisor)
    page.goto("/supervisor/messages/")
    page.locator("#dead").get_by_role("link", name=ticket.reference).click()
    expect(page).to_have_url(re.compile(rf"/tickets/{ticket.reference}/$"))
