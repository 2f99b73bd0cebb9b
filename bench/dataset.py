"""Bulk-load tickets, follow-ups and events with COPY (PostgreSQL).

Each ticket gets 3 events and 2 follow-ups. Most tickets are old and closed (their follow-ups
done or cancelled); open ones carry scheduled follow-ups in the future; `due_fraction` of all
follow-up rows are customer SMS due now on penalty tickets whose outcome is recorded, so the
dispatcher has real work (render, outbox row, publish).
"""

import json
import random
from datetime import timedelta

from django.db import connection

from cstrack import calendar, pii


def _columns(model):
    return [f.column for f in model._meta.concrete_fields]


def load(n_tickets: int, *, due_fraction: float = 0.01, seed: int = 7, chunk: int = 50_000) -> dict:
    from notifications.models import Message  # noqa: F401  (migrated table must exist)
    from tickets.models import Board, FollowUp, FollowUpPolicy, Ticket, TicketEvent, TicketKind

    rng = random.Random(seed)
    now = calendar.now()
    kind = TicketKind.objects.get(code="driver-penalty-request")
    schema_version = kind.schema_versions.order_by("-version").first()
    board = Board.objects.get(code="penalty-koc")
    sms_policy = FollowUpPolicy.objects.get(code="penalty-feedback-d3-sms")
    breach_policy = FollowUpPolicy.objects.get(code="penalty-feedback-d3-breach")
    phones = [f"+8210{rng.randrange(10**7, 10**8)}" for _ in range(1000)]
    phone_pool = [(pii.encrypt(p), pii.blind_index(p), pii.mask_phone(p)) for p in phones]
    sensitive_empty = ""

    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM tickets_ticket")
        ticket_base = cur.fetchone()[0]
        cur.execute("SELECT COALESCE(MAX(id), 0) FROM tickets_followup")
        fu_base = cur.fetchone()[0]

    due_every = max(round(1 / due_fraction), 1) if due_fraction else 0
    t_cols, f_cols, e_cols = _columns(Ticket), _columns(FollowUp), _columns(TicketEvent)
    e_cols = [c for c in e_cols if c != "id"]
    stats = {"tickets": 0, "followups": 0, "events": 0, "due": 0}
    connection.ensure_connection()
    raw = connection.connection  # the psycopg 3 connection, for COPY
    with raw.cursor() as cur:
        for start in range(0, n_tickets, chunk):
            stop = min(start + chunk, n_tickets)
            tickets, followups, events = [], [], []
            for i in range(start, stop):
                tid = ticket_base + i + 1
                received = now - timedelta(minutes=rng.randrange(5, 60 * 24 * 730))
                fu_index = 2 * i
                # Two follow-ups per ticket: one ticket in every due_every/2 has its SMS due now.
                due_now = bool(due_every) and i % max(due_every // 2, 1) == 0
                open_ticket = due_now or rng.random() < 0.15
                status = "action_taken" if due_now else ("in_progress" if open_ticket else "closed")
                enc, digest, masked = phone_pool[i % len(phone_pool)]
                details = json.dumps(
                    {
                        "penalty_board": "koc",
                        "call_type": "own_normal",
                        "violation": "no_show",
                        "incident_date": calendar.kst_date(received).isoformat(),
                        "description": "bench",
                        "feedback_requested": True,
                    }
                )
                outcome = "warning" if (due_now or not open_ticket) else ""
                plans = []  # (policy, state, due) of the ticket's two follow-ups
                for j, policy in enumerate((sms_policy, breach_policy)):
                    if due_now and j == 0:
                        state, due = "scheduled", now - timedelta(seconds=rng.randrange(1, 600))
                        stats["due"] += 1
                    elif open_ticket:
                        state, due = "scheduled", now + timedelta(days=rng.randrange(1, 30))
                    else:
                        state, due = ("done" if j == 0 else "skipped"), received + timedelta(days=3)
                    plans.append((policy, state, due))
                pending_dues = [due for _, state, due in plans if state == "scheduled"]
                row = {
                    "id": tid,
                    "created_at": received,
                    "updated_at": received,
                    "reference": f"BN-{tid:09d}",
                    "kind_id": kind.pk,
                    "schema_version_id": schema_version.pk,
                    "service_line": "driver",
                    "category_path": kind.category_path,
                    "channel": "phone",
                    "requester_type": "customer",
                    "status": status,
                    "priority": "normal",
                    "title": kind.name,
                    "board_id": board.pk,
                    "assignee_id": None,
                    "created_by_id": None,
                    "created_via": "bench",
                    "received_at": received,
                    "member_id": f"M-{i % 200000}",
                    "driver_id": f"DRV-{i % 50000}",
                    "call_id": f"CALL-{i}",
                    "vehicle_plate": "",
                    "parking_lot": "",
                    "customer_phone": enc,
                    "customer_phone_hash": digest,
                    "customer_phone_masked": masked,
                    "customer_email": None,
                    "customer_email_masked": "",
                    "identity_verified": True,
                    "consent_basis": "existing_member",
                    "consent_recorded_by_id": None,
                    "consent_recorded_at": received,
                    "consent_withdrawn_at": None,
                    "delegation_caller": "",
                    "delegation_relation": "",
                    "details": details,
                    "sensitive_details": sensitive_empty,
                    "outcome": outcome,
                    "outcome_reason": "",
                    "outcome_recorded_at": received if outcome else None,
                    "outcome_recorded_by_id": None,
                    "driver_blocked": False,
                    "manager_confirmed_by": "",
                    "manager_confirmed_at": None,
                    "routed_to": "",
                    "compensation_krw": 0,
                    "breached_at": None,
                    "next_due_at": min(pending_dues) if pending_dues else None,
                    "paused_at": None,
                    "resolved_at": None,
                    "closed_at": None if open_ticket else received,
                    "contact_purged_at": None,
                    "version": 1,
                }
                tickets.append(tuple(row[c] for c in t_cols))
                for j, (policy, state, due) in enumerate(plans):
                    fid = fu_base + fu_index + j + 1
                    fu = {
                        "id": fid,
                        "created_at": received,
                        "updated_at": received,
                        "ticket_id": tid,
                        "policy_id": policy.pk,
                        "action": policy.action,
                        "due_at": due,
                        "window_end": None,
                        "state": state,
                        "reason": "",
                        "marks_breach": policy.marks_breach,
                        "pauses_when_waiting": True,
                        "dedupe_key": f"{policy.code}:{tid}:created",
                        "message_id": None,
                        "completed_at": None,
                        "completed_by_id": None,
                        "attempts": 0,
                        "recipient_id": None,
                    }
                    followups.append(tuple(fu[c] for c in f_cols))
                for k, etype in enumerate(("created", "transitioned", "outcome")):
                    ev = {
                        "ticket_id": tid,
                        "type": etype,
                        "actor_id": None,
                        "actor_label": "bench",
                        "at": received + timedelta(minutes=k),
                        "data": "{}",
                    }
                    events.append(tuple(ev[c] for c in e_cols))
            for table, cols, rows in (
                ("tickets_ticket", t_cols, tickets),
                ("tickets_followup", f_cols, followups),
                ("tickets_ticketevent", e_cols, events),
            ):
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
            stats["tickets"] += len(tickets)
            stats["followups"] += len(followups)
            stats["events"] += len(events)
        for table in ("tickets_ticket", "tickets_followup"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    raw.commit()
    # As autovacuum leaves a table in steady state: statistics, and the visibility map that lets
    # the overdue queue's counts come from its covering index alone.
    raw.autocommit = True
    try:
        with raw.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    finally:
        raw.autocommit = False
    return stats
