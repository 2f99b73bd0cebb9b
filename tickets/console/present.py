"""Display helpers: KST labels (through cstrack.calendar), event sentences, kind fields."""

import json
from datetime import datetime

import phonenumbers
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from cstrack import calendar, pii

from ..models import Action, CallResult, Channel, ConsentBasis, EventType, FollowUpState, Status

AGE_LABELS = {"<1d": _lazy("1일 미만"), "1-3d": _lazy("1~3일"), "3-7d": _lazy("3~7일"), ">7d": _lazy("7일 넘음")}


def when(dt) -> str:
    """KST label for a datetime (or an ISO 8601 string), "—" when empty."""
    if not dt:
        return "—"
    if isinstance(dt, str):
        try:
            dt = datetime.fromisoformat(dt)
        except ValueError:
            return dt
    return calendar.business_time_label(dt)


def local_input_value(dt) -> str:
    """Value for an <input type=datetime-local>, on the KST wall clock."""
    return calendar.to_kst(dt).strftime("%Y-%m-%dT%H:%M") if dt else ""


def age_label(bucket: str) -> str:
    return str(AGE_LABELS.get(bucket, bucket))


def _status_label(value):
    try:
        return Status(value).label
    except ValueError:
        return value or ""


def _followup_action(fu_id, followups_by_id):
    fu = followups_by_id.get(fu_id)
    return fu.get_action_display() if fu else _("후속 조치")


def describe_event(event, ticket, followups_by_id) -> str:
    d = event.data or {}
    t = event.type
    if t == EventType.CREATED:
        text = _("%(status)s 상태로 접수") % {"status": _status_label(d.get("status"))}
        if d.get("customer_phone"):
            text += " · " + _("연락처 %(phone)s") % {"phone": d["customer_phone"]}
        return text
    if t == EventType.TRANSITIONED:
        text = f"{_status_label(d.get('from'))} → {_status_label(d.get('to'))}"
        return text + (f" ({d['note']})" if d.get("note") else "")
    if t == EventType.OUTCOME:
        if "coupon_krw" in d:
            return _("보상 쿠폰 %(krw)s원 지급") % {"krw": f"{d['coupon_krw']:,}"}
        text = _("처리 결과: %(outcome)s") % {"outcome": ticket.kind.outcome_label(d.get("outcome"))}
        if d.get("reason"):
            text += f" — {d['reason']}"
        if d.get("driver_blocked"):
            text += " · " + _("기사 차단")
        return text
    if t == EventType.FOLLOWUP:
        action = _followup_action(d.get("followup"), followups_by_id)
        change = d.get("change")
        if change == "rescheduled":
            text = _("%(action)s 기한 변경: %(before)s → %(after)s (사유: %(reason)s)") % {
                "action": action,
                "before": when(d.get("before")),
                "after": when(d.get("after")),
                "reason": d.get("reason", ""),
            }
            if d.get("acknowledged"):
                text += " · " + _("경고 확인: %(w)s") % {"w": " ".join(d["acknowledged"])}
            return text
        if change == "cancelled":
            return _("%(action)s 취소 (사유: %(reason)s)") % {"action": action, "reason": d.get("reason", "")}
        if change == "message_retried":
            return _("%(action)s 발송 실패 메시지 다시 보냄 (사유: %(reason)s)") % {
                "action": action,
                "reason": d.get("reason", ""),
            }
        result = CallResult(d["result"]).label if d.get("result") in CallResult.values else ""
        if change == "completed":
            text = _("%(action)s 완료") % {"action": action} + (f" · {result}" if result else "")
            return text + (" · " + _("기한 지남") if d.get("late") else "")
        if change == "call_attempted":
            return _("%(action)s 시도 · %(result)s") % {"action": action, "result": result}
        if "cancelled" in d:
            return _("대기 중인 후속 조치 %(n)s건 취소 (%(reason)s)") % {"n": d["cancelled"], "reason": d.get("reason")}
    if t == EventType.RECONTACT:
        if d.get("merged"):
            text = _("같은 재인입을 다시 기록해 메모를 덧붙임 (회신 전화는 추가하지 않음)")
        else:
            text = _("고객 재인입 · 회신 약속 기한 %(when)s") % {"when": when(d.get("promised_by"))}
        if d.get("note"):
            text += " · " + _("메모: %(note)s") % {"note": d["note"]}
        return text
    if t == EventType.CONTACT_REVEALED:
        text = _("연락처 원문 조회 (사유: %(reason)s)") % {"reason": d.get("reason", "")}
        return text + (" · " + _("회신 전화용") if d.get("followup") else "")
    if t == EventType.BREACHED:
        return _("약속한 기한 %(when)s을(를) 지키지 못함") % {"when": when(d.get("due_at"))}
    if t == EventType.CONSENT:
        basis = d.get("basis", "")
        label = ConsentBasis(basis).label if basis in ConsentBasis.values else basis
        return _("개인정보 근거 기록: %(basis)s") % {"basis": label}
    if t == EventType.MANAGER_CONFIRMED:
        return _("관리자 컨펌: %(manager)s") % {"manager": d.get("manager", "")}
    if t == EventType.ASSIGNED:
        after = d.get("after") or {}
        text = _("담당 지정: %(who)s / %(board)s") % {"who": after.get("assignee") or "—", "board": after.get("board")}
        return text + (f" ({d['note']})" if d.get("note") else "")
    if t == EventType.MACRO:
        return _("'%(name)s' 매크로: %(changes)s") % {
            "name": d.get("name", ""),
            "changes": " · ".join(d.get("changes") or []),
        }
    if t == EventType.UPDATED:
        names = [field_label(ticket, name) for name in sorted((d.get("after") or {}).keys())]
        return _("변경 항목: %(fields)s") % {"fields": ", ".join(names)}
    if t == EventType.PURGED:
        return _("개인정보 삭제 (%(reason)s)") % {"reason": d.get("reason", "")}
    return ""


# Who did it, for the labels the services write when no person acted.
ACTOR_LABELS = {
    "system": _lazy("자동 처리"),
    "retention": _lazy("보관 기간 정책"),
    "auto-close": _lazy("자동 종료"),
}


def actor_label(label: str) -> str:
    if label.startswith("integration:"):
        return _("외부 시스템 (%(name)s)") % {"name": label.split(":", 1)[1]}
    return str(ACTOR_LABELS.get(label, label))


def field_label(ticket, name: str) -> str:
    """The Korean label of a ticket field or a kind field ("details.<name>") for the history."""
    if name.startswith("details."):
        schema = ticket.schema_version.schema if ticket.schema_version_id else ticket.kind.schema
        labels = {f["name"]: f.get("label", f["name"]) for f in schema.get("fields", [])}
        return labels.get(name.removeprefix("details."), name.removeprefix("details."))
    try:
        return str(ticket._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:  # a field since removed from the model
        return name


def timeline(ticket, events, followups):
    """Events and follow-ups in one list, ordered by time (events by when they happened, follow-ups
    by when they are due)."""
    by_id = {fu.pk: fu for fu in followups}
    rows = []
    for e in events:
        rows.append(
            {
                "kind": "event",
                "at": e.at,
                "label": when(e.at),
                "title": e.get_type_display(),
                "text": describe_event(e, ticket, by_id),
                "who": actor_label(e.actor_label),
                "type": e.type,
            }
        )
    for fu in followups:
        rows.append(
            {
                "kind": "followup",
                "at": fu.due_at,
                "label": when(fu.due_at),
                "title": fu.get_action_display(),
                "text": f"{fu.get_state_display()} · {fu.reason}" if fu.reason else fu.get_state_display(),
                "who": "",
                "type": fu.state,
            }
        )
    rows.sort(key=lambda r: r["at"])
    return rows


def recontact_rows(events):
    """A ticket's re-contacts from its audit events, newest first: when, channel, the memo (as
    audited, masked) and the promised call-back time; a merged repeat shows as an added memo."""
    rows = [
        {
            "at": e.at,
            "label": when(e.at),
            "channel": Channel(e.data["channel"]).label if e.data.get("channel") in Channel.values else "",
            "note": e.data.get("note", ""),
            "promised": when(e.data.get("promised_by")) if e.data.get("promised_by") else "",
            "merged": bool(e.data.get("merged")),
        }
        for e in events
        if e.type == EventType.RECONTACT
    ]
    rows.sort(key=lambda r: r["at"], reverse=True)
    return rows


def followup_rows(followups, now):
    pending = {FollowUpState.SCHEDULED, FollowUpState.HELD, FollowUpState.PAUSED}
    for fu in followups:
        fu.due_label = when(fu.due_at)
        fu.due_input = local_input_value(fu.due_at)
        fu.is_pending = fu.state in pending
        fu.is_overdue = fu.is_pending and fu.due_at < now
        fu.is_callback = fu.action == Action.CALL_BACK
        fu.message_label = message_label(fu.message) if fu.message_id else ""
        fu.message_status = (fu.message.delivery_status or fu.message.state) if fu.message_id else ""
    return followups


def message_label(message) -> str:
    """What became of a follow-up's message, in a few words: the channel that carried it (or
    will) and how far it got: "카카오 알림톡 · 수신 확인", "대체 발송 단문(SMS) · 발송사 접수"."""
    return f"{message_channel_label(message)} · {message.delivery_status_label}"


def message_channel_label(message) -> str:
    """The channel that carried the message (or will): AlimTalk, SMS/LMS, or an AlimTalk's
    SMS/LMS fallback."""
    if message.sent_as:
        channel = message.get_sent_as_display()
    elif message.on_fallback:
        channel = message.get_fallback_type_display()
    else:
        channel = message.get_message_type_display()
    if message.on_fallback:
        channel = _("대체 발송 %(type)s") % {"type": channel}
    return channel


def phone_display(e164: str) -> str:
    """+821012345678 -> 010-1234-5678 (only for a number the user was allowed to reveal)."""
    try:
        parsed = phonenumbers.parse(e164, "KR")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def revealed_rows(ticket, data: dict):
    schema = ticket.schema_version.schema if ticket.schema_version_id else ticket.kind.schema
    labels = {f["name"]: (f.get("label", f["name"]), f["type"]) for f in schema.get("fields", [])}
    rows = []
    if data.get("customer_phone"):
        rows.append({"label": _("고객 연락처"), "value": phone_display(data["customer_phone"])})
    if data.get("customer_email"):
        rows.append({"label": _("고객 이메일"), "value": data["customer_email"]})
    for name, value in data.items():
        if name in ("customer_phone", "customer_email") or not value:
            continue
        label, kind = labels.get(name, (name, ""))
        rows.append({"label": label, "value": phone_display(value) if kind == "phone" else value})
    return rows


# --- Kind fields ---------------------------------------------------------------------------


def _choice_label(field, value):
    labels = {c[0]: c[1] for c in field.get("choices") or []}
    if isinstance(value, list):
        return ", ".join(labels.get(v, v) for v in value)
    return labels.get(value, value)


def detail_rows(ticket):
    """The ticket's kind-specific values with their labels; personal values stay masked."""
    schema = ticket.schema_version.schema if ticket.schema_version_id else ticket.kind.schema
    rows = []
    sensitive = ticket.sensitive_details or {}
    for f in schema.get("fields", []):
        name = f["name"]
        if name in sensitive:
            value = pii.mask_value(f["type"], sensitive[name])
        elif name in ticket.details:
            value = ticket.details[name]
            if f["type"] == "bool":
                value = _("예") if value else _("아니오")
            elif f["type"] in {"choice", "multichoice"}:
                value = _choice_label(f, value)
            elif f["type"] == "datetime":
                value = when(value)
        else:
            continue
        rows.append({"label": f.get("label", name), "value": value})
    return rows


def form_fields(schema, values: dict, errors: dict):
    """Render specs for the kind's fields: input name "details.<name>", current value, errors."""
    specs = []
    for f in schema.get("fields", []):
        name = f["name"]
        key = f"details.{name}"
        value = values.getlist(key) if f["type"] == "multichoice" and hasattr(values, "getlist") else values.get(key)
        spec = {
            "name": key,
            "id": f"f-details-{name}",
            "label": f.get("label", name),
            "type": f["type"],
            "required": bool(f.get("required")) and not f.get("required_when"),
            "conditional": bool(f.get("required_when")),
            "required_when": json.dumps(f["required_when"], ensure_ascii=False) if f.get("required_when") else "",
            "help": f.get("help", ""),
            "choices": [{"value": c[0], "label": c[1]} for c in f.get("choices") or []],
            "value": value if value is not None else ([] if f["type"] == "multichoice" else ""),
            "errors": errors.get(key, []),
            "max_length": f.get("max_length"),
            "min": f.get("min"),
            "max": f.get("max"),
        }
        specs.append(spec)
    return specs


def file_size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}MB"
    return f"{max(1, round(size / 1024))}KB"


def attachment_row(attachment) -> dict:
    return {
        "pk": attachment.pk,
        "name": attachment.original_name,
        "type": attachment.content_type,
        "size": file_size_label(attachment.size),
        "by": attachment.uploaded_by_label,
        "at": when(attachment.uploaded_at),
        "deleted": attachment.deleted_at is not None,
        "deleted_reason": attachment.deleted_reason,
    }
