"""Migration 0015 brings installed databases to the glossary's words, but only where a default
still holds its old text: an administrator's own wording stays."""

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tickets", "0014_ticket_vehicle_plate_index")]
AFTER = [("tickets", "0015_one_vocabulary")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_old_default_words_are_replaced_and_edited_ones_kept():
    old = _migrate(BEFORE)
    kinds = old.get_model("tickets", "TicketKind")
    versions = old.get_model("tickets", "TicketKindSchema")
    templates = old.get_model("notifications", "MessageTemplate")
    kinds.objects.filter(code="mate-sales-statement").update(name="메이트 매출내역 발급 요청")
    kinds.objects.filter(code="pet-mate-membership").update(name="메이트 가입 (관리자가 바꾼 이름)")
    kinds.objects.filter(code="driver-compensation-demand").update(
        outcomes=[["called_back", "고객 통화 완료"], ["unreachable", "연락 불가"]]
    )
    record = versions.objects.filter(kind__code="pet-record-issuance").order_by("-version").first()
    record.schema = json.loads(json.dumps(record.schema, ensure_ascii=False).replace("펫 메이트", "메이트"))
    record.save()
    templates.objects.filter(code="penalty-feedback-sms").update(subject="카카오 T 고객센터")
    templates.objects.filter(code="season-pass-registered-sms").update(subject="주차 안내 (직접 쓴 제목)")
    try:
        new = _migrate(AFTER)
        kinds = new.get_model("tickets", "TicketKind")
        versions = new.get_model("tickets", "TicketKindSchema")
        templates = new.get_model("notifications", "MessageTemplate")
        assert kinds.objects.get(code="mate-sales-statement").name == "펫 메이트 매출내역 발급 요청"
        assert kinds.objects.get(code="pet-mate-membership").name == "메이트 가입 (관리자가 바꾼 이름)"
        assert dict(kinds.objects.get(code="driver-compensation-demand").outcomes)["called_back"] == "회신 전화 완료"
        schema = versions.objects.get(pk=record.pk).schema
        choices = [c for f in schema["fields"] for c in (f.get("choices") or []) if c[0] == "mate"]
        assert choices == [["mate", "펫 메이트"]]
        assert templates.objects.get(code="penalty-feedback-sms").subject == ""
        assert templates.objects.get(code="season-pass-registered-sms").subject == "주차 안내 (직접 쓴 제목)"
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("tickets"))
