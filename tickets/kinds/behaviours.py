"""Kind behaviour as data: the one registry of what a kind does beyond validating its form.

A kind names the behaviours it uses, with their configuration, in `TicketKind.behaviours`
(``{name: config}``, edited in the admin and checked when saved). The lifecycle services call
the hooks below (on create, on update, on outcome); the console and the API ask here what to
show. Nothing else in the code looks at a kind's or a board's code, so a kind renamed or added
in the admin keeps working without a deploy.

Hooks run in the order of this registry, not in the order an administrator typed the names.
A behaviour's configuration may name boards by code; `rename_board_references` keeps those in
step when an administrator renames a board.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from cstrack import calendar
from cstrack.errors import DomainValidationError
from tickets import configuration
from tickets.models import Board, ConsentBasis, Ticket, TicketKind, Trigger


@dataclass
class Creation:
    """What a hook sees of a ticket being created (not saved yet; `received_at` is set)."""

    ticket: Ticket
    details: dict
    assignee: Any = None
    customer_phone: str = ""
    consent_basis: str = ""


def _fields(schema: dict) -> dict[str, dict]:
    return {f["name"]: f for f in (schema or {}).get("fields", []) if isinstance(f, dict) and "name" in f}


def _choice_values(field: dict) -> list:
    return [c[0] for c in field.get("choices") or [] if isinstance(c, list | tuple) and c]


class Behaviour:
    name = ""
    label = ""
    help = ""
    defaults: dict = {}

    def config(self, stored) -> dict:
        return {**self.defaults, **(stored if isinstance(stored, dict) else {})}

    def check(self, config: dict, schema: dict, outcomes: list) -> list[str]:
        """Problems with `config` for a kind with this schema and these outcome values."""
        return []

    def board_codes(self, config: dict) -> set[str]:
        return set()

    def rename_board(self, config: dict, old: str, new: str) -> dict:
        return config

    def on_create(self, c: Creation, config: dict) -> None:
        pass

    def on_update(self, ticket: Ticket, config: dict, before: dict, after: dict) -> None:
        pass

    def on_outcome(self, ticket: Ticket, config: dict, outcome: str) -> list[tuple[str, str]]:
        """Follow-up triggers (trigger, occurrence) this outcome fires."""
        return []

    # Helpers for checks.
    def _need_field(self, config, schema, key="field", types=None) -> list[str]:
        name = config.get(key)
        field = _fields(schema).get(name) if isinstance(name, str) else None
        if field is None:
            return [f"{self.name}: {key}={name!r} 필드가 스키마에 없습니다."]
        if types and field.get("type") not in types:
            return [f"{self.name}: {name} 필드는 {'/'.join(sorted(types))} 형식이어야 합니다."]
        return []


class RouteByField(Behaviour):
    name = "route_by_field"
    label = "필드 값으로 게시판 배정"
    help = '선택 필드의 값에 따라 게시판을 정합니다. 예: {"field": "region", "boards": {"north": "board-a", "south": "board-b"}}'

    def check(self, config, schema, outcomes):
        problems = self._need_field(config, schema, types={"choice"})
        boards = config.get("boards")
        if not isinstance(boards, dict) or not boards:
            return [*problems, f"{self.name}: boards는 {{값: 게시판 코드}} 객체여야 합니다."]
        if not problems:
            values = _choice_values(_fields(schema)[config["field"]])
            unknown = sorted(set(boards) - set(values))
            if unknown:
                problems.append(f"{self.name}: 선택지에 없는 값: {', '.join(unknown)}")
        existing = set(Board.objects.filter(code__in=list(boards.values())).values_list("code", flat=True))
        missing = sorted({str(code) for code in boards.values()} - existing)
        if missing:
            problems.append(f"{self.name}: 없는 게시판 코드: {', '.join(missing)}")
        return problems

    def board_codes(self, config):
        return set((config.get("boards") or {}).values())

    def rename_board(self, config, old, new):
        boards = {value: (new if code == old else code) for value, code in (config.get("boards") or {}).items()}
        return {**config, "boards": boards}

    def _board_for(self, ticket: Ticket, config: dict) -> Board | None:
        code = (config.get("boards") or {}).get(ticket.details.get(config.get("field")))
        if code is None:
            return None
        board = configuration.board(code)
        if board is None:
            raise DomainValidationError(
                {
                    f"details.{config['field']}": [
                        "이 값에 연결된 게시판이 없습니다. 관리자에게 유형 설정을 확인해 달라고 해 주세요."
                    ]
                }
            )
        return board

    def on_create(self, c, config):
        board = self._board_for(c.ticket, config)
        if board is not None:
            c.ticket.board = board

    def on_update(self, ticket, config, before, after):
        board = self._board_for(ticket, config)
        if board is not None and board.pk != ticket.board_id:
            before["board"], after["board"] = ticket.board.code, board.code
            ticket.board = board


class DriverBlock(Behaviour):
    name = "driver_block"
    label = "기사 차단 여부 기록"
    help = "상세의 기사 차단 표시를 티켓의 기사 차단 여부로 옮기고, 결과 기록 화면에서 바꿀 수 있게 합니다."
    defaults = {"field": "driver_blocked"}

    def check(self, config, schema, outcomes):
        return self._need_field(config, schema, types={"bool"})

    def on_create(self, c, config):
        c.ticket.driver_blocked = bool(c.ticket.details.get(config["field"]))

    def on_update(self, ticket, config, before, after):
        blocked = bool(ticket.details.get(config["field"]))
        if blocked != ticket.driver_blocked:
            before["driver_blocked"], after["driver_blocked"] = ticket.driver_blocked, blocked
            ticket.driver_blocked = blocked


class CallbackNumberNeedsPhone(Behaviour):
    name = "callback_number_needs_phone"
    label = "다른 번호로 회신 시 연락처 필수"
    help = "고객이 등록 번호가 아닌 다른 번호로 회신을 원하면 그 번호(와 수집 동의)를 받아야 접수됩니다."
    defaults = {"field": "callback_number", "value": "other"}

    def check(self, config, schema, outcomes):
        problems = self._need_field(config, schema, types={"choice"})
        if not problems and config.get("value") not in _choice_values(_fields(schema)[config["field"]]):
            problems.append(f"{self.name}: value={config.get('value')!r}는 선택지에 없습니다.")
        return problems

    def on_create(self, c, config):
        if c.ticket.details.get(config["field"]) == config["value"] and not c.customer_phone:
            raise DomainValidationError(
                {"customer_phone": ["다른 번호로 회신을 원하면 그 번호와 수집 동의가 필요합니다."]}
            )


class DelegationRequired(Behaviour):
    name = "delegation_required"
    label = "제3자 위임 필수"
    help = "호출자 본인이 아닌 제3자와 상담하는 유형: 호출자의 위임(호출자·관계)을 기록해야 접수됩니다."

    def on_create(self, c, config):
        if c.consent_basis != ConsentBasis.THIRD_PARTY_DELEGATED:
            raise DomainValidationError(
                {"consent_basis": ["이 유형은 제3자와 상담하므로 호출자의 위임을 근거로 기록해야 합니다."]}
            )


# Where a business call goes; the value is stored in Ticket.routed_to.
ROUTES = {
    "business_line": "비즈니스 전용 상담센터로 안내",
    "business_team": "비즈니스팀으로 이관",
    "company_admin": "소속 기업의 비즈니스 관리자에게 문의하도록 안내",
}
IN_HOURS, AFTER_HOURS, ANY_CALLER = "in_hours", "after_hours", "*"


class BusinessHoursRouting(Behaviour):
    """Who is calling and the clock decide where the call goes (seed 003).

    config: {"field": <choice field naming the caller, optional>,
             "routes": {<caller value or "*">: {"in_hours": route, "after_hours": route}},
             "assignee_after_hours": [routes that need a named assignee outside business hours]}
    """

    name = "business_hours_routing"
    label = "발신자·업무 시간에 따른 안내 경로"
    help = "발신자 구분과 업무 시간(평일 09~18시, 공휴일 제외)에 따라 전용 상담센터 안내, 이관, 기업 관리자 안내 중 하나로 보냅니다."
    defaults = {
        "routes": {ANY_CALLER: {IN_HOURS: "business_line", AFTER_HOURS: "business_team"}},
        "assignee_after_hours": ["business_team"],
    }

    def check(self, config, schema, outcomes):
        problems = []
        values = None
        if config.get("field") is not None:
            problems += self._need_field(config, schema, types={"choice"})
            if not problems:
                values = _choice_values(_fields(schema)[config["field"]])
        routes = config.get("routes")
        if not isinstance(routes, dict) or not routes:
            return [*problems, f"{self.name}: routes는 {{발신자 값: {{in_hours, after_hours}}}} 객체여야 합니다."]
        for caller, pair in routes.items():
            if values is not None and caller != ANY_CALLER and caller not in values:
                problems.append(f"{self.name}: 선택지에 없는 발신자 값: {caller}")
            if not isinstance(pair, dict) or set(pair) != {IN_HOURS, AFTER_HOURS}:
                problems.append(f"{self.name}: {caller}에는 in_hours와 after_hours 경로가 모두 필요합니다.")
            elif not set(pair.values()) <= set(ROUTES):
                problems.append(f"{self.name}: 알 수 없는 경로 (가능: {', '.join(ROUTES)})")
        if ANY_CALLER not in routes and (values is None or not set(values) <= set(routes)):
            problems.append(f'{self.name}: 모든 발신자 값에 경로를 정하거나 "*" 경로를 두어야 합니다.')
        if not set(config.get("assignee_after_hours") or []) <= set(ROUTES):
            problems.append(f"{self.name}: assignee_after_hours에 알 수 없는 경로가 있습니다.")
        return problems

    def route(self, ticket: Ticket, config: dict) -> str:
        routes = config["routes"]
        caller = ticket.details.get(config["field"]) if config.get("field") else None
        pair = routes.get(caller) or routes[ANY_CALLER]
        return pair[IN_HOURS if calendar.is_business_time(ticket.received_at) else AFTER_HOURS]

    def on_create(self, c, config):
        route = self.route(c.ticket, config)
        in_hours = calendar.is_business_time(c.ticket.received_at)
        if not in_hours and route in (config.get("assignee_after_hours") or []) and c.assignee is None:
            raise DomainValidationError({"assignee": ["업무 시간 외 비즈니스 이관은 담당자를 지정해야 합니다."]})
        c.ticket.routed_to = route


class RegistrationMessage(Behaviour):
    name = "registration_message"
    label = "등록 확인 시 고객 메시지"
    help = "이 결과가 기록되면 '등록 확인' 계기의 후속 조치(고객 문자 등)를 예약합니다."
    defaults = {"outcomes": ["registered"]}

    def check(self, config, schema, outcomes):
        wanted = config.get("outcomes")
        if not isinstance(wanted, list) or not wanted:
            return [f"{self.name}: outcomes 목록이 필요합니다."]
        unknown = [o for o in wanted if o not in outcomes]
        return [f"{self.name}: 이 유형에 없는 결과: {', '.join(map(str, unknown))}"] if unknown else []

    def on_outcome(self, ticket, config, outcome):
        if outcome in config["outcomes"]:
            return [(Trigger.REGISTRATION_CONFIRMED, "registered")]
        return []


class SeasonPassCompensation(Behaviour):
    name = "season_pass_compensation"
    label = "정기권 쿠폰·환불"
    help = "같은 고객의 같은 달 정기권 건을 세어 쿠폰 대상 여부와 환불액을 보여 주고, 쿠폰 지급을 허용합니다."


class PenaltyHistory(Behaviour):
    name = "penalty_history"
    label = "기사 ID별 신고 이력"
    help = "처리 담당자에게 같은 기사 ID의 신고 이력(30일·90일·전체)을 보여 줍니다. 이 동작을 쓰는 유형의 건을 셉니다."


REGISTRY: dict[str, Behaviour] = {
    b.name: b
    for b in (
        RouteByField(),
        DriverBlock(),
        CallbackNumberNeedsPhone(),
        DelegationRequired(),
        BusinessHoursRouting(),
        RegistrationMessage(),
        SeasonPassCompensation(),
        PenaltyHistory(),
    )
}
DRIVER_BLOCK = DriverBlock.name
SEASON_PASS = SeasonPassCompensation.name
PENALTY_HISTORY = PenaltyHistory.name


def choices() -> list[tuple[str, str]]:
    return [(b.name, b.label) for b in REGISTRY.values()]


def configured(kind: TicketKind) -> list[tuple[Behaviour, dict]]:
    """The kind's behaviours with their effective config, in registry order."""
    stored = kind.behaviours if isinstance(kind.behaviours, dict) else {}
    return [(b, b.config(stored[name])) for name, b in REGISTRY.items() if name in stored]


def uses(kind: TicketKind, name: str) -> bool:
    return isinstance(kind.behaviours, dict) and name in kind.behaviours and name in REGISTRY


def kinds_using(name: str) -> QuerySet:
    return TicketKind.objects.filter(behaviours__has_key=name)


def check(behaviours, schema: dict, outcomes: list) -> list[str]:
    """Problems with a kind's behaviours (the admin refuses to save them)."""
    if not isinstance(behaviours, dict):
        return ['동작은 {"이름": {설정}} 형태의 JSON 객체여야 합니다.']
    problems = []
    for name, config in behaviours.items():
        behaviour = REGISTRY.get(name)
        if behaviour is None:
            problems.append(f"알 수 없는 동작: {name} (가능: {', '.join(REGISTRY)})")
        elif config is not None and not isinstance(config, dict):
            problems.append(f"{name}: 설정은 JSON 객체여야 합니다.")
        else:
            problems += behaviour.check(behaviour.config(config), schema or {}, [v for v, _label in outcomes or []])
    return problems


# --- Hooks the lifecycle services call -----------------------------------------------------------


def on_create(c: Creation) -> None:
    for behaviour, config in configured(c.ticket.kind):
        behaviour.on_create(c, config)
    if c.assignee is not None:
        c.ticket.assignee = c.assignee


def on_update(ticket: Ticket, before: dict, after: dict) -> None:
    for behaviour, config in configured(ticket.kind):
        behaviour.on_update(ticket, config, before, after)


def outcome_triggers(ticket: Ticket, outcome: str) -> list[tuple[str, str]]:
    triggers = []
    for behaviour, config in configured(ticket.kind):
        triggers += behaviour.on_outcome(ticket, config, outcome)
    return triggers


# --- Boards named in configurations ----------------------------------------------------------------


def kinds_naming_board(code: str) -> list[TicketKind]:
    return [
        kind
        for kind in TicketKind.objects.exclude(behaviours={})
        if any(code in b.board_codes(config) for b, config in configured(kind))
    ]


def rename_board_references(old: str, new: str) -> list[TicketKind]:
    """Rewrite every kind configuration that names board `old` to name `new`."""
    changed = []
    for kind in kinds_naming_board(old):
        stored = dict(kind.behaviours)
        for behaviour, _config in configured(kind):
            if old in behaviour.board_codes(behaviour.config(stored[behaviour.name])):
                stored[behaviour.name] = behaviour.rename_board(stored[behaviour.name] or {}, old, new)
        TicketKind.objects.filter(pk=kind.pk).update(behaviours=stored)
        configuration.changed()  # an update() sends no signal
        changed.append(kind)
    return changed
