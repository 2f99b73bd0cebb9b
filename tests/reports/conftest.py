"""The escalation-core fixtures (in-memory providers, `create`, no broker) and the API's key
clients apply to the report tests too."""

from tests.api.conftest import _clean_throttle_cache, client_for, make_key, session_client  # noqa: F401
from tests.tickets.conftest import (  # noqa: F401
    _ticket_settings,
    create,
    django_db_modify_db_settings,
    operator,  # on every board: the access policy shows operations staff only their boards
    operator_actor,
    published,
)
