"""Readable references CS-YYYYMMDD-NNNN: KST day, sequential, unique under concurrency."""

import re
import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from cstrack.errors import DomainValidationError
from tickets.lifecycle import services
from tickets.models import Ticket

from .conftest import VALID, at


def _create():
    return services.ticket_create(kind="pet-cs-inquiry", details=VALID["pet-cs-inquiry"][0])


@pytest.mark.django_db
def test_reference_uses_the_kst_date_and_counts_up():
    # 23:30 UTC on 22 November is 08:30 KST on 23 November.
    with time_machine.travel(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), tick=False):
        first, second = _create(), _create()
    assert first.reference == "CS-20261123-0001"
    assert second.reference == "CS-20261123-0002"
    with at(2026, 11, 23, 23, 59):
        assert _create().reference == "CS-20261123-0003"
    with at(2026, 11, 24, 0, 0):
        assert _create().reference == "CS-20261124-0001"
    assert all(re.fullmatch(r"CS-\d{8}-\d{4}", r) for r in Ticket.objects.values_list("reference", flat=True))


@pytest.mark.django_db
def test_refused_ticket_does_not_consume_a_number(make_ticket):
    with at(2026, 11, 23, 10, 0):
        assert _create().reference == "CS-20261123-0001"
        with pytest.raises(DomainValidationError):
            make_ticket(customer_phone="010-1234")
        assert _create().reference == "CS-20261123-0002"


@pytest.mark.django_db(transaction=True)
def test_references_unique_under_concurrency():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "shared-cache in-memory SQLite cannot wait for a writer; tests/tickets/conftest.py puts the test "
            "database in a file, but another directory set it up first (set DATABASES TEST NAME to a file)"
        )
    threads_n = 20
    barrier = threading.Barrier(threads_n)
    refs, errors = [], []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=10)
            ticket = _create()
            with lock:
                refs.append(ticket.reference)
        except Exception as exc:  # collected and reported below
            with lock:
                errors.append(repr(exc))
        finally:
            connection.close()

    with at(2026, 11, 23, 10, 0):
        threads = [threading.Thread(target=worker) for _ in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    assert len(refs) == threads_n
    assert sorted(refs) == [f"CS-20261123-{n:04d}" for n in range(1, threads_n + 1)]
    assert Ticket.objects.count() == threads_n


def test_the_counter_upsert_names_the_sequence_table():
    from tickets.lifecycle.references import NEXT_NUMBER_SQL
    from tickets.models import DailySequence

    assert f"INSERT INTO {DailySequence._meta.db_table} " in NEXT_NUMBER_SQL
