"""Readable ticket references, CS-<KST date>-<number of the day>."""

from django.db import IntegrityError, transaction
from django.db.models import F

from cstrack import calendar
from tickets.models import DailySequence

REFERENCE_PREFIX = "CS"


def next_reference(received_at) -> str:
    day = calendar.kst_date(received_at)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                DailySequence.objects.get_or_create(day=day)
        except IntegrityError:  # another request created today's row first
            continue
        break
    updated = DailySequence.objects.filter(day=day).update(last=F("last") + 1)
    assert updated == 1
    number = DailySequence.objects.get(day=day).last
    return f"{REFERENCE_PREFIX}-{day:%Y%m%d}-{number:04d}"
