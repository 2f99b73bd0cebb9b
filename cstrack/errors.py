"""Domain errors. Services raise them; the API and the console turn them into clear messages
(the API: RFC 9457 problem details with a status per class). Never a 500 for bad input.

Messages may quote what was submitted ("unknown kind: ..."); any phone number or e-mail address
in them is masked here, so an error never carries personal data into a page, a log or a report."""

from cstrack.logging import scrub


def _scrub_errors(field_errors: dict) -> dict:
    return {
        key: [scrub(m) if isinstance(m, str) else m for m in messages] if isinstance(messages, list) else messages
        for key, messages in field_errors.items()
    }


class DomainError(Exception):
    status = 400
    code = "domain_error"
    title = "요청을 처리할 수 없습니다."

    def __init__(self, detail: str | None = None, *, field_errors: dict | None = None, code: str | None = None):
        self.detail = scrub(detail) if isinstance(detail, str) and detail else self.title
        self.field_errors = _scrub_errors(field_errors or {})
        if code:
            self.code = code
        super().__init__(self.detail)


class DomainValidationError(DomainError):
    """Bad input: field_errors maps a field name to a list of messages."""

    status = 400
    code = "invalid"
    title = "입력값을 확인해 주세요."

    def __init__(self, field_errors: dict, detail: str | None = None):
        super().__init__(detail, field_errors=field_errors)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "대상을 찾을 수 없습니다."


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    title = "권한이 없습니다."


class Conflict(DomainError):
    """The request is valid but the current state forbids it (e.g. a transition)."""

    status = 409
    code = "conflict"
    title = "현재 상태에서는 처리할 수 없습니다."


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"

    def __init__(self, from_state, to_state, from_label, to_label):
        self.from_state, self.to_state = from_state, to_state
        super().__init__(f"'{from_label}' 상태에서 '{to_label}' 상태로 바꿀 수 없습니다.")


class StaleVersion(DomainError):
    status = 412
    code = "stale_version"
    title = "다른 사용자가 먼저 수정했습니다. 새로 고친 뒤 다시 시도해 주세요."
