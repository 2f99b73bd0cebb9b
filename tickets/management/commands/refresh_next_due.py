"""`manage.py refresh_next_due`: recompute every open ticket's next due time from its follow-ups.

The follow-up engine keeps `Ticket.next_due_at` itself; this is for after a change made around
it (rows edited by hand in SQL, a restore of the follow-up table alone, a bulk import)."""

from django.core.management.base import BaseCommand

from tickets.followups.scheduling import refresh_all_next_due


class Command(BaseCommand):
    help = "열린 티켓의 다음 후속 기한(next_due_at)을 후속 조치에서 다시 계산합니다."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, batch_size, **options):
        visited = refresh_all_next_due(batch_size=batch_size)
        self.stdout.write(f"{visited}건의 열린 티켓을 다시 계산했습니다.")
