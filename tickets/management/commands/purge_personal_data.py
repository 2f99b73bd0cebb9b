from django.core.management.base import BaseCommand

from tickets.privacy.retention import completed_attachment_candidates, purge_candidates, purge_expired


class Command(BaseCommand):
    help = "보관 기간이 지난 티켓의 개인정보를 삭제합니다. --dry-run 은 대상만 보여 줍니다."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--limit", type=int, default=None)

    def handle(self, *args, dry_run, limit, **options):
        if dry_run:
            candidates = purge_candidates(limit=limit)
            for c in candidates:
                self.stdout.write(
                    f"{c.reference}\t{c.kind}\tclosed {c.closed_at:%Y-%m-%d}\tretention {c.retention_days}d"
                )
            self.stdout.write(f"{len(candidates)} ticket(s) would be purged.")
            files = completed_attachment_candidates()
            for a in files:
                self.stdout.write(
                    f"{a.ticket.reference}\tattachment {a.pk}\t{a.content_type}\tcompleted {a.ticket.status}"
                )
            self.stdout.write(f"{len(files)} attachment(s) of completed tickets would be deleted.")
            return
        self.stdout.write(f"{purge_expired(limit=limit)} ticket(s) purged.")
