"""Key rotation covers attachment files and third-party numbers: after rotate_pii_keys the old
key can be removed and everything still decrypts (and the third-party hash follows the new
hash key with --rehash)."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from cstrack import pii
from cstrack.actors import Actor
from tickets.models import ThirdPartyDelegation
from tickets.privacy import attachments, delegation

from .conftest import PDF

pytestmark = pytest.mark.django_db


def test_files_and_third_party_numbers_survive_removing_the_old_key(cs_ticket, actor, operator, settings):
    old_key = settings.PII_ENCRYPTION_KEYS[0]
    a = attachments.attachment_add(cs_ticket, actor=actor, name="r.pdf", content=PDF)
    d = delegation.delegation_record(
        cs_ticket,
        actor=actor,
        relation="car_owner",
        case="car_owner_after_accident",
        caller="호출자 본인(회원)",
        third_party_phone="010-8080-9090",
        third_party_is_member=True,
    )
    new_key = Fernet.generate_key().decode()
    with override_settings(PII_ENCRYPTION_KEYS=[new_key, old_key], PII_HASH_KEY="another-hash-key"):
        call_command("rotate_pii_keys", "--rehash")
        assert ThirdPartyDelegation.objects.get(pk=d.pk).third_party_phone_hash == pii.blind_index("+821080809090")
    with override_settings(PII_ENCRYPTION_KEYS=[new_key]):  # the old key is gone
        with open(attachments.stored_path(a), "rb") as handle:
            assert Fernet(new_key.encode()).decrypt(handle.read()) == PDF
        assert attachments.attachment_open(a, actor=Actor.for_user(operator)).content == PDF
        assert ThirdPartyDelegation.objects.get(pk=d.pk).third_party_phone == "+821080809090"
