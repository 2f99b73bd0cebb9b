"""Readable ticket references, CS-<KST date>-<number of the day>."""

from django.db import connection

from cstrack import calendar

REFERENCE_PREFIX = "CS"
# DailySequence's table (tests/tickets/test_references.py checks the name).
NEXT_NUMBER_SQL = (
    "INSERT INTO tickets_dailysequence (day, last) VALUES (%s, 1) "
    "ON CONFLICT (day) DO UPDATE SET last = tickets_dailysequence.last + 1 RETURNING last"
)


def next_reference(received_at) -> str:
    """The next reference of the receipt's KST day, in one statement: an upsert of the day's
    counter that returns the new number (PostgreSQL and SQLite ≥ 3.35 both speak it). The row
    stays locked until the caller's transaction ends, so numbers are never handed out twice."""
    day = calendar.kst_date(received_at)
    with connection.cursor() as cursor:
        cursor.execute(NEXT_NUMBER_SQL, [connection.ops.adapt_datefield_value(day)])
        (number,) = cursor.fetchone()
    return f"{REFERENCE_PREFIX}-{day:%Y%m%d}-{number:04d}"
