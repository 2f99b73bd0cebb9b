"""Finding 8: phone parsing was loose. Extensions, tel: URIs, non-ASCII digits, short numbers
and foreign numbers were accepted (the extension silently dropped); a landline was accepted as
the number an SMS follow-up goes to."""

import pytest

from cstrack import pii
from cstrack.errors import DomainValidationError

MOBILES = [
    ("010-1234-5678", "+821012345678"),
    ("01012345678", "+821012345678"),
    ("010 1234 5678", "+821012345678"),
    ("010.1234.5678", "+821012345678"),
    ("(010) 1234-5678", "+821012345678"),
    ("+82 10 1234 5678", "+821012345678"),
    ("+82-10-1234-5678", "+821012345678"),
    ("011-123-4567", "+82111234567"),
    ("016-1234-5678", "+821612345678"),
    ("019-123-4567", "+82191234567"),
]
LANDLINES = [("02-123-4567", "+8221234567"), ("031-123-4567", "+82311234567"), ("1644-1234", "+8216441234")]

# (input, a word the message must contain)
REFUSED = [
    ("tel:+82-10-1234-5678;ext=1", "tel:"),
    ("010-1234-5678 ext 12", "내선"),
    ("010-1234-5678#12", "내선"),
    ("+1 202 555 0100x", "내선"),
    ("+1 202 555 0100", "국내"),
    ("０１０-１２３４-５６７８", "반각"),
    ("٠١٠١٢٣٤٥٦٧٨", "반각"),
    ("010-1234-567", "자릿수"),
    ("010-123-4567", "자릿수"),
    ("010-12345-6789", "자릿수"),
    ("012-1234-5678", "앞자리"),
    ("010-1234-abcd", "숫자"),
    ("010-123", "모자랍니다"),
    ("12", "모자랍니다"),
    ("", "입력"),
]


@pytest.mark.parametrize(("raw", "e164"), MOBILES)
def test_mobile_numbers_in_every_ordinary_spelling_are_accepted(raw, e164):
    assert pii.normalise_phone(raw) == e164
    assert pii.is_mobile(e164)


@pytest.mark.parametrize(("raw", "word"), REFUSED)
@pytest.mark.parametrize("allow_landline", [False, True])
def test_refused_spellings_say_why(raw, word, allow_landline):
    with pytest.raises(DomainValidationError) as caught:
        pii.normalise_phone(raw, field="customer_phone", allow_landline=allow_landline)
    (message,) = caught.value.field_errors["customer_phone"]
    assert word in message


@pytest.mark.parametrize(("raw", "e164"), LANDLINES)
def test_landline_only_where_a_call_back_number_is_asked_for(raw, e164):
    with pytest.raises(DomainValidationError) as caught:
        pii.normalise_phone(raw)
    assert "휴대폰" in caught.value.field_errors["phone"][0]
    assert pii.normalise_phone(raw, allow_landline=True) == e164
    assert not pii.is_mobile(e164)


@pytest.mark.django_db
def test_sms_kind_refuses_a_landline_for_the_customer(api):
    from tests.api.helpers import penalty_body

    response = api.post("/api/v1/tickets/", penalty_body(customer_phone="02-123-4567"), format="json")
    assert response.status_code == 400
    assert "customer_phone" in response.json()["errors"]
    response = api.post("/api/v1/tickets/", penalty_body(customer_phone="010-1234-5678 ext 3"), format="json")
    assert response.status_code == 400
    assert "내선" in response.json()["errors"]["customer_phone"][0]


@pytest.mark.django_db
def test_call_back_number_field_of_a_kind_takes_a_landline():
    from tickets.kinds.schema import validate_details
    from tickets.models import TicketKind

    kind = TicketKind.objects.get(code="pet-partnership-inquiry")
    schema = kind.current_schema.schema
    details = {"company_name": "멍멍상사", "inquirer_name": "김담당", "contact_phone": "02-123-4567", "inquiry": "제휴"}
    _plain, personal = validate_details(schema, details)
    assert personal["contact_phone"] == "+8221234567"
    with pytest.raises(DomainValidationError):
        validate_details(schema, details | {"contact_phone": "02-123-4567 내선 12"})
