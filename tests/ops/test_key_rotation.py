import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from cstrack import pii
from tickets.models import Ticket


@pytest.mark.django_db
def test_rotate_pii_keys_reencrypts_under_the_new_key_and_rehashes(make_ticket, settings):
    old_key = settings.PII_ENCRYPTION_KEYS[0]
    ticket = make_ticket(customer_phone="010-7777-8888", consent_basis="existing_member", member_id="M-1")
    new_key = Fernet.generate_key().decode()
    with override_settings(PII_ENCRYPTION_KEYS=[new_key, old_key], PII_HASH_KEY="a-new-hash-key"):
        call_command("rotate_pii_keys", "--rehash")
        ticket.refresh_from_db()
        assert ticket.customer_phone_hash == pii.blind_index("+821077778888")
    with override_settings(PII_ENCRYPTION_KEYS=[new_key]):  # the old key is gone
        with connection.cursor() as cur:
            cur.execute("SELECT customer_phone FROM tickets_ticket WHERE id = %s", [ticket.pk])
            token = cur.fetchone()[0]
        assert "7777" not in token
        assert Fernet(new_key.encode()).decrypt(token.encode()) == b"+821077778888"
        assert Ticket.objects.get(pk=ticket.pk).customer_phone == "+821077778888"
