"""`manage.py health`: database, broker, workers and the age of the oldest overdue work.
Exits non-zero when unhealthy, so it can back a container health check or a monitor."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from cstrack import calendar
from notifications.models import Message
from tickets.followups.dispatcher import due_queryset


class Command(BaseCommand):
    help = "서비스 상태를 점검합니다 (문제가 있으면 종료 코드 1)."

    def add_arguments(self, parser):
        parser.add_argument("--max-due-age", type=int, default=600, help="허용하는 가장 오래된 미처리 건의 나이(초)")
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--no-workers", action="store_true", help="워커 응답 확인을 건너뜀")

    def handle(self, *args, max_due_age, no_workers=False, **options):
        report, healthy = {}, True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            report["database"] = "ok"
        except Exception as exc:  # report, don't crash: this is the health check
            report["database"] = f"error: {type(exc).__name__}"
            healthy = False

        from config.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=3)
            report["broker"] = "ok"
        except Exception as exc:
            report["broker"] = f"error: {type(exc).__name__}"
            healthy = False

        if no_workers:
            report["workers"] = "skipped"
        elif settings.CELERY_BROKER_URL.startswith("filesystem://"):
            report["workers"] = "unknown (the filesystem broker cannot broadcast a ping)"
        elif report["broker"] == "ok":
            replies = app.control.ping(timeout=2.0) or []
            report["workers"] = sorted(name for reply in replies for name in reply)
            healthy = healthy and bool(replies)

        if report["database"] == "ok":
            now = calendar.now()
            oldest_fu = due_queryset(now).order_by("due_at").values_list("due_at", flat=True).first()
            oldest_msg = (
                Message.objects.filter(state__in=["pending", "retry"], next_attempt_at__lte=now)
                .order_by("next_attempt_at")
                .values_list("next_attempt_at", flat=True)
                .first()
            )
            ages = {
                "oldest_due_followup_age_s": int(calendar.elapsed(oldest_fu, now).total_seconds()) if oldest_fu else 0,
                "oldest_unsent_message_age_s": int(calendar.elapsed(oldest_msg, now).total_seconds())
                if oldest_msg
                else 0,
            }
            report.update(ages)
            if max(ages.values()) > max_due_age:
                healthy = False
        report["healthy"] = healthy
        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False))
        else:
            for key, value in report.items():
                self.stdout.write(f"{key}: {value}")
        if not healthy:
            raise SystemExit(1)
