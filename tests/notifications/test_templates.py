"""Template validation and rendering (pure) and MessageTemplate.clean()."""

import contextlib

import pytest
from django.core.exceptions import ValidationError

from cstrack.errors import DomainValidationError
from notifications.models import MessageTemplate
from notifications.services import PLACEHOLDERS, sms_type, template_validate
from notifications.templating import (
    SMS_ENCODING,
    euc_kr_length,
    render,
    sms_char_ok,
    sms_safe,
    unencodable_characters,
)


def errors_of(exc_info) -> str:
    return " ".join(m for msgs in exc_info.value.field_errors.values() for m in msgs)


class TestValidate:
    def test_known_placeholders_pass(self):
        template_validate("{reference} {due_at} {customer_name_masked}", "sms")

    def test_unknown_placeholder_is_refused_by_name(self):
        with pytest.raises(DomainValidationError) as exc:
            template_validate("안녕하세요 {reference}, {phone_number} 로 연락드립니다", "sms")
        assert "{phone_number}" in errors_of(exc)
        assert "body" in exc.value.field_errors

    def test_unknown_placeholder_in_subject_is_refused(self):
        with pytest.raises(DomainValidationError) as exc:
            template_validate("본문 {reference}", "email", subject="[cstrack] {secret}")
        assert "subject" in exc.value.field_errors
        assert "{secret}" in errors_of(exc)

    @pytest.mark.parametrize("body", ["{reference.__class__}", "{reference[0]}", "{reference!r}", "{due_at:%Y}"])
    def test_attribute_index_conversion_and_spec_are_refused(self, body):
        with pytest.raises(DomainValidationError):
            template_validate(body, "email")

    def test_unbalanced_braces_are_refused(self):
        with pytest.raises(DomainValidationError) as exc:
            template_validate("접수 {reference", "email")
        assert "중괄호" in errors_of(exc)

    def test_doubled_braces_are_literal(self):
        template_validate("{{참고}} {reference}", "sms")
        assert render("{{참고}} {reference}", {"reference": "A-1"}, channel="sms") == "{참고} A-1"

    def test_emoji_is_refused_for_sms_naming_the_character(self):
        with pytest.raises(DomainValidationError) as exc:
            template_validate("처리 완료 😀 {reference}", "sms")
        text = errors_of(exc)
        assert "😀" in text and "U+1F600" in text

    def test_emoji_is_fine_for_email(self):
        template_validate("처리 완료 😀 {reference}", "email")

    def test_hangul_outside_euc_kr_is_refused_for_sms(self):
        # "똠" is in CP949 but not in KS X 1001; Python would write it as an 8-byte make-up sequence.
        with pytest.raises(DomainValidationError) as exc:
            template_validate("똠양꿍", "sms")
        assert "똠" in errors_of(exc)

    def test_sms_over_2000_bytes_is_refused(self):
        template_validate("가" * 1000, "sms")  # exactly 2,000 bytes
        with pytest.raises(DomainValidationError) as exc:
            template_validate("가" * 1000 + "a", "sms")
        assert "2,000" in errors_of(exc)

    def test_long_email_is_fine(self):
        template_validate("가" * 5000, "email")

    def test_sms_subject_limit(self):
        template_validate("본문", "sms", subject="가" * 20)
        with pytest.raises(DomainValidationError) as exc:
            template_validate("본문", "sms", subject="가" * 21)
        assert "subject" in exc.value.field_errors

    def test_empty_body_is_refused(self):
        with pytest.raises(DomainValidationError):
            template_validate("   ", "sms")

    def test_placeholder_descriptions_are_korean(self):
        assert {"reference", "incident_date", "kind_name", "due_at", "customer_name_masked"} <= set(PLACEHOLDERS)
        assert all(any("\uac00" <= ch <= "\ud7a3" for ch in label) for label in PLACEHOLDERS.values())


class TestSmsType:
    def test_korean_is_two_bytes(self):
        assert euc_kr_length("가나다") == 6
        assert euc_kr_length("abc") == 3

    def test_boundary_at_90_bytes(self):
        assert sms_type("가" * 45) == "SMS"  # 90 bytes
        assert sms_type("가" * 46) == "LMS"  # 92 bytes
        assert sms_type("가" * 44 + "ab") == "SMS"  # 90 bytes
        assert sms_type("가" * 44 + "abc") == "LMS"  # 91 bytes
        assert sms_type("a" * 90) == "SMS"
        assert sms_type("a" * 91) == "LMS"


class TestWholeTextCheck:
    """The SMS checks encode a text whole and compare byte counts instead of testing each
    character; they must say exactly what the character-by-character rule says."""

    def test_the_codec_writes_every_non_ascii_character_as_2_or_8_bytes(self):
        # What the whole-text check relies on: a 1-byte non-ASCII character would break it.
        lengths = set()
        for code in range(0x80, 0x110000):
            if 0xD800 <= code <= 0xDFFF:
                continue
            with contextlib.suppress(UnicodeEncodeError):
                lengths.add(len(chr(code).encode(SMS_ENCODING)))
        assert lengths == {2, 8}

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "abc 123",
            "고객님, 접수 번호 CS-20261122-0001 건을 처리했습니다.",
            "똠방각하",  # outside KS X 1001: the codec writes an 8-byte make-up sequence
            "a똠b",
            "안녕 😀 하세요",
            "\u3164",  # the Hangul filler itself is a plain 2-byte KS X 1001 character
            "똠똠" + "가" * 3,
            "é ü ß",
        ],
    )
    def test_same_answers_as_character_by_character(self, text):
        per_char_safe = "".join(ch if sms_char_ok(ch) else "?" for ch in text)
        assert sms_safe(text) == per_char_safe
        assert euc_kr_length(text) == len(per_char_safe.encode(SMS_ENCODING))
        assert unencodable_characters(text) == list(dict.fromkeys(ch for ch in text if not sms_char_ok(ch)))


class TestRender:
    def test_renders_allow_listed_names(self):
        out = render(
            "{reference} / {due_at}", {"reference": "PEN-1", "due_at": "11월 25일", "other": "x"}, channel="sms"
        )
        assert out == "PEN-1 / 11월 25일"

    def test_missing_value_raises_naming_it(self):
        with pytest.raises(DomainValidationError) as exc:
            render("{reference} {due_at}", {"reference": "PEN-1"}, channel="sms")
        assert "{due_at}" in errors_of(exc)

    def test_none_renders_empty(self):
        assert render("[{summary}]", {"summary": None}, channel="email") == "[]"

    def test_sms_values_that_euc_kr_cannot_carry_become_question_marks(self):
        assert render("{customer_name_masked}님", {"customer_name_masked": "홍*동😀"}, channel="sms") == "홍*동?님"
        assert render("{customer_name_masked}님", {"customer_name_masked": "홍*동😀"}, channel="email") == "홍*동😀님"

    def test_unknown_placeholder_refused_at_render_too(self):
        with pytest.raises(DomainValidationError):
            render("{__import__}", {"__import__": "x"}, channel="email")


@pytest.mark.django_db
class TestModelClean:
    def test_clean_refuses_unknown_placeholder(self):
        template = MessageTemplate(code="bad", name="나쁜 예", channel="sms", body="{nope}")
        with pytest.raises(ValidationError) as exc:
            template.full_clean()
        assert "body" in exc.value.message_dict
        assert "{nope}" in exc.value.message_dict["body"][0]

    def test_clean_refuses_emoji_for_sms(self):
        template = MessageTemplate(code="emoji", name="이모지", channel="sms", body="안녕하세요 🙂")
        with pytest.raises(ValidationError) as exc:
            template.full_clean()
        assert "🙂" in exc.value.message_dict["body"][0]

    def test_clean_accepts_good_template(self):
        MessageTemplate(code="good", name="좋은 예", channel="sms", body="{reference} 처리 완료").full_clean()

    def test_shipped_templates_are_valid(self):
        # Whatever templates other apps install as defaults must pass our validation.
        for template in MessageTemplate.objects.all():
            template.full_clean()
