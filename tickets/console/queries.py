"""Console-only reads that no selector offers yet (each one query)."""

from collections import Counter

from django.contrib.auth import get_user_model
from django.db.models import Q

from cstrack import calendar, roles

from .. import bulk
from ..access import policy as access
from ..models import OPEN_STATUSES, Board, Status, Ticket
from ..selectors import ticket_list

QUEUE_LIMIT = 200
# The supervisor's overdue table shows this many rows at a time ("더 보기" adds as many, up to QUEUE_LIMIT).
QUEUE_PAGE = 50
# What operations still have to act on: an open ticket whose action is not yet taken (a ticket
# with its outcome recorded waits only for the customer-facing follow-ups, not for operations).
TO_DO_STATUSES = tuple(s for s in OPEN_STATUSES if s != Status.ACTION_TAKEN)


def board_queue(board):
    """Tickets of a board still waiting for operations, oldest first."""
    return ticket_list().filter(board=board, status__in=TO_DO_STATUSES).order_by("received_at", "id")[:QUEUE_LIMIT]


def staff_users():
    """Users holding a console role, for assignee pickers and the supervisor's agent filter."""
    names = [roles.AGENT, roles.OPERATIONS, roles.SUPERVISOR]
    return (
        get_user_model()
        .objects.filter(Q(groups__name__in=names) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )


def bulk_choices(user, *, staff=None, boards=None) -> dict:
    """What a queue's bulk form offers: assignees, and the boards this user may move tickets to
    (operations staff: the boards they work). Pass lists the page already read to save queries."""
    if boards is None:
        boards = list(access.visible_boards(user, Board.objects.all()))
    return {
        "bulk_staff": staff if staff is not None else list(staff_users()),
        "bulk_boards": boards,
        "bulk_max": bulk.MAX_ITEMS,
    }


def breaches_per_day(days: int = 14, now=None):
    """[(KST date, count)] for the last `days` KST days, today last."""
    now = now or calendar.now()
    wanted = [calendar.kst_date(calendar.days_ago(now, i)) for i in range(days - 1, -1, -1)]
    since = calendar.days_ago(now, days + 1)
    stamps = Ticket.objects.filter(breached_at__gte=since).order_by().values_list("breached_at", flat=True)
    counts = Counter(calendar.kst_date(at) for at in stamps)
    return [(d, counts.get(d, 0)) for d in wanted]


def chart_geometry(series, *, width=680, height=220, pad_left=36, pad_bottom=36, pad_top=20):
    """Bar positions for the server-rendered SVG chart."""
    peak = max([c for _d, c in series] + [1])
    # A round scale: 1, 2, 5, 10, 20, ... so the axis labels stay readable.
    step = 1
    while peak / step > 5:
        step = step * 2 if str(step)[0] in "15" else step * 5 // 2
    top = step * -(-peak // step)
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    slot = plot_w / len(series)
    bars = []
    for i, (day, count) in enumerate(series):
        h = plot_h * count / top
        bars.append(
            {
                "x": round(pad_left + i * slot + slot * 0.15, 1),
                "y": round(pad_top + plot_h - h, 1),
                "w": round(slot * 0.7, 1),
                "h": round(h, 1),
                "cx": round(pad_left + i * slot + slot / 2, 1),
                "count": count,
                "label": f"{day.month}/{day.day}",
                "title": f"{day:%Y-%m-%d}: {count}",
            }
        )
    ticks = [{"value": v, "y": round(pad_top + plot_h - plot_h * v / top, 1)} for v in range(0, top + 1, step)]
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "ticks": ticks,
        "x0": pad_left,
        "x1": width - 8,
        "baseline": pad_top + plot_h,
        "label_y": pad_top + plot_h + 18,
        "total": sum(c for _d, c in series),
    }
