"""Message placeholders are declared once, next to the values that fill them
(tickets/followups/messages.py), and notifications checks templates against that declaration."""

import pytest
from django.core.exceptions import ValidationError

from cstrack.errors import DomainValidationError
from notifications import templating
from notifications.models import MessageTemplate
from tickets.followups import messages

pytestmark = pytest.mark.django_db


def test_notifications_checks_templates_against_the_tickets_declaration():
    assert messages.placeholder_descriptions() == templating.PLACEHOLDERS
    assert all(any("가" <= ch <= "힣" for ch in label) for label in templating.PLACEHOLDERS.values())


def test_every_declared_placeholder_is_filled_and_renders(make_ticket):
    ticket = make_ticket()
    context = messages.message_context(ticket, ticket.followups.first())
    assert set(context) == set(templating.PLACEHOLDERS)
    body = " ".join("{" + name + "}" for name in templating.PLACEHOLDERS)
    rendered = templating.render(body, context, channel="email")
    assert ticket.reference in rendered and "{" not in rendered


def test_a_template_with_an_undeclared_placeholder_is_refused():
    template = MessageTemplate(code="t-undeclared", name="시험", channel="sms", body="{reference} {phone_number}")
    with pytest.raises(ValidationError) as exc:
        template.full_clean()
    assert "{phone_number}" in str(exc.value)
    with pytest.raises(DomainValidationError):
        templating.template_validate("{driver_phone}", "email")


def test_a_placeholder_cannot_be_declared_twice_with_another_meaning():
    with pytest.raises(ValueError):
        templating.register_placeholders({"reference": "다른 뜻"})
    templating.register_placeholders({"reference": templating.PLACEHOLDERS["reference"]})  # same: fine
    with pytest.raises(ValueError):
        templating.register_placeholders({"not a name": "이름 아님"})
