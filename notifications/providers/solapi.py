"""Solapi (https://solapi.com): Korean SMS/LMS (and AlimTalk, unused here).

API as documented by Solapi (sources in docs/delivery.md):

* ``POST {SOLAPI_BASE_URL}/messages/v4/send`` with JSON
  ``{"message": {"to", "from", "text", "type", "subject"?, "customFields": {...}}}``;
  200 -> ``{"messageId", "groupId", "statusCode": "2000", ...}``; errors ->
  ``{"errorCode", "errorMessage"}`` with a 4xx/5xx status.
* ``GET {SOLAPI_BASE_URL}/messages/v4/list`` with ``to``, ``startDate``, ``limit``,
  ``startKey`` -> ``{"messageList": {messageId: {..., "customFields": {...}}}, "nextKey"}``.
* Every request carries ``Authorization: HMAC-SHA256 apiKey=<key>, date=<ISO 8601>,
  salt=<12-64 random chars>, signature=<hex HMAC-SHA256(apiSecret, date + salt)>``. A signature
  may be used once within 15 minutes and the date must be within 15 minutes of Solapi's clock.

Idempotency: Solapi has no idempotency key of its own. We put ours in
``customFields.idempotencyKey`` and, to look a message up, list the recipient's messages since
shortly before the outbox row was created and match that field. The list endpoint has no filter
on customFields, so the lookup reads at most LOOKUP_MAX_PAGES pages of LOOKUP_PAGE_SIZE; a
recipient with more messages than that in the window could make the lookup miss (documented in
docs/delivery.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import urllib.parse
from datetime import UTC, datetime, timedelta

import phonenumbers
from django.conf import settings

from .base import (
    DeliveryReport,
    PermanentProviderError,
    Provider,
    ProviderConfigurationError,
    ProviderError,
    TemporaryProviderError,
)
from .gateway import error_code, raise_for_status, request, sender_number

CUSTOM_FIELD = "idempotencyKey"
LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 5
LOOKUP_WINDOW_BEFORE = timedelta(minutes=10)
LOOKUP_WINDOW_DEFAULT = timedelta(days=2)


def authorization_header(api_key: str, api_secret: str, *, date: str | None = None, salt: str | None = None) -> str:
    date = date or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    salt = salt or secrets.token_hex(16)  # 32 chars, fresh per request
    signature = hmac.new(api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 apiKey={api_key}, date={date}, salt={salt}, signature={signature}"


_KR_E164 = re.compile(r"^\+82(1\d{8,9})$")


def national_number(e164: str) -> str:
    """+821012345678 -> 01012345678 (Solapi takes Korean numbers in national digits)."""
    match = _KR_E164.match(e164 or "")
    if match:  # the form the outbox stores (normalised at enqueue): no parsing needed
        return "0" + match.group(1)
    try:
        parsed = phonenumbers.parse(e164, "KR")
    except phonenumbers.NumberParseException:
        raise PermanentProviderError("solapi: recipient is not a phone number") from None
    if parsed.country_code != 82:
        raise PermanentProviderError("solapi: only Korean numbers are supported")
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdigit())


# Solapi status codes: 2000 registered, 3000 handed to the carrier / Kakao (both not final),
# 4000 received by the phone; anything else is a failure (e.g. 3104: no KakaoTalk account).
PENDING_CODES = {"2000", "3000"}
DELIVERED_CODE = "4000"
ROUTE_FIELD = "route"


def report_outcome(code: str) -> str:
    code = str(code or "")
    if code == DELIVERED_CODE:
        return "delivered"
    if code in PENDING_CODES or not code:
        return "pending"
    return "failed"


def parse_reports(data) -> list[DeliveryReport]:
    """Reports from a Solapi report body: a list of message objects, or {"messageList": ...}
    (a dict keyed by id or a list), each with ``messageId`` and ``statusCode``."""
    if isinstance(data, dict):
        data = data.get("messageList") if "messageList" in data else [data]
    if isinstance(data, dict):
        data = list(data.values())
    if not isinstance(data, list):
        return []
    reports = []
    for row in data:
        if not isinstance(row, dict) or not row.get("messageId"):
            continue
        code = str(row.get("statusCode") or "")
        code = code if code.isalnum() and len(code) <= 20 else "?"
        reports.append(DeliveryReport(str(row["messageId"])[:200], report_outcome(code), code))
    return reports


def route_of(message) -> str:
    """Which route of a message this send is, in customFields: "ata" (the AlimTalk), "fallback"
    (its SMS/LMS), or "" (a plain SMS). A look-up matches the route too, so a failed AlimTalk is
    never taken for its fallback."""
    if message.message_type == "ATA":
        return "ata"
    return getattr(message, "delivery_route", "") or ""


class SolapiProvider(Provider):
    name = "solapi"
    supports_lookup = True
    supports_alimtalk = True

    def _config(self) -> tuple[str, str, str]:
        base = (getattr(settings, "SOLAPI_BASE_URL", "") or "https://api.solapi.com").rstrip("/")
        key = getattr(settings, "SOLAPI_API_KEY", "") or ""
        secret = getattr(settings, "SOLAPI_API_SECRET", "") or ""
        if not key or not secret:
            raise ProviderConfigurationError("SOLAPI_API_KEY and SOLAPI_API_SECRET must be set")
        return base, key, secret

    def _payload(self, message) -> dict:
        if message.message_type not in ("SMS", "LMS", "ATA"):
            raise PermanentProviderError(f"solapi: unsupported message type {message.message_type}")
        fields = {CUSTOM_FIELD: message.idempotency_key}
        route = route_of(message)
        if route:
            fields[ROUTE_FIELD] = route
        payload = {
            "to": national_number(message.recipient),
            "from": sender_number(),
            "text": message.body,
            "type": message.message_type,
            "customFields": fields,
        }
        if message.message_type == "ATA":
            # Our own fallback (disableSms): when AlimTalk fails, its report brings the message
            # back and it goes again as its SMS/LMS, under its own route in customFields, so
            # the row records which channel reached the customer.
            payload["kakaoOptions"] = {
                "pfId": message.alimtalk_pf_id,
                "templateId": message.alimtalk_template_id,
                "variables": dict(message.alimtalk_variables or {}),
                "disableSms": True,
            }
        elif message.message_type == "LMS" and message.subject:
            payload["subject"] = message.subject
        return payload

    def send(self, message) -> str:
        base, key, secret = self._config()
        payload = self._payload(message)
        body = json.dumps({"message": payload}, ensure_ascii=False).encode("utf-8")
        headers = {"Authorization": authorization_header(key, secret)}
        resp = request("POST", f"{base}/messages/v4/send", body=body, headers=headers, what="solapi")
        data = resp.json()
        raise_for_status(resp, "solapi", error_code(data))
        if not isinstance(data, dict) or not data.get("messageId"):
            raise PermanentProviderError("solapi: unexpected response (no messageId)")
        status = str(data.get("statusCode") or "")
        if status and not status.startswith("2"):
            # Registered but refused at once (e.g. an invalid number): retrying will not help.
            raise PermanentProviderError(f"solapi: status {status}")
        return str(data["messageId"])

    def send_many(self, messages, *, deadline=None) -> list:
        """All `messages` in one request to ``POST /messages/v4/send-many/detail``.

        Solapi answers 200 with ``messageList`` (registered) and ``failedMessageList`` (refused
        at once, each with its ``statusCode``) even when some messages failed; we match both to
        our messages by ``customFields.idempotencyKey``. A message in neither list has an
        unknown outcome: a temporary error that may have been delivered, so it is looked up
        before any resend.
        """
        results: list = [None] * len(messages)
        try:
            base, key, secret = self._config()
            sender_number()
        except PermanentProviderError as exc:
            return [exc] * len(messages)
        payloads, index = [], {}
        for i, message in enumerate(messages):
            try:
                payloads.append(self._payload(message))
            except Exception as exc:
                results[i] = exc
                continue
            index[message.idempotency_key] = i
        if not payloads:
            return results
        body = json.dumps({"messages": payloads, "showMessageList": True}, ensure_ascii=False).encode("utf-8")
        headers = {"Authorization": authorization_header(key, secret)}
        try:
            resp = request("POST", f"{base}/messages/v4/send-many/detail", body=body, headers=headers, what="solapi")
            data = resp.json()
            raise_for_status(resp, "solapi", error_code(data))
            if not isinstance(data, dict):
                raise TemporaryProviderError("solapi: unexpected response", maybe_delivered=True)
        except ProviderError as exc:
            for i in index.values():
                results[i] = exc
            return results
        for row in data.get("messageList") or []:
            i = index.get(((row or {}).get("customFields") or {}).get(CUSTOM_FIELD))
            if i is None or not row.get("messageId"):
                continue
            status = str(row.get("statusCode") or "")
            if status and not status.startswith("2"):
                results[i] = PermanentProviderError(f"solapi: status {status}")
            else:
                results[i] = str(row["messageId"])
        for row in data.get("failedMessageList") or []:
            i = index.get(((row or {}).get("customFields") or {}).get(CUSTOM_FIELD))
            if i is not None:
                code = str(row.get("statusCode") or "")
                results[i] = PermanentProviderError(f"solapi: status {code if code.isalnum() else '?'}"[:60])
        for i in index.values():
            if results[i] is None:
                results[i] = TemporaryProviderError("solapi: message missing from the answer", maybe_delivered=True)
        return results

    def lookup(self, idempotency_key, *, message=None):
        base, key, secret = self._config()
        params: dict[str, str] = {"limit": str(LOOKUP_PAGE_SIZE)}
        if message is not None and message.created_at:
            since = message.created_at - LOOKUP_WINDOW_BEFORE
        else:
            since = datetime.now(UTC) - LOOKUP_WINDOW_DEFAULT
        params["startDate"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if message is not None and message.recipient:
            params["to"] = national_number(message.recipient)
        start_key = None
        for _page in range(LOOKUP_MAX_PAGES):
            query = dict(params, **({"startKey": start_key} if start_key else {}))
            headers = {"Authorization": authorization_header(key, secret)}
            url = f"{base}/messages/v4/list?{urllib.parse.urlencode(query)}"
            resp = request("GET", url, headers=headers, what="solapi lookup")
            data = resp.json()
            raise_for_status(resp, "solapi lookup", error_code(data))
            listing = (data or {}).get("messageList") or {}
            rows = listing.values() if isinstance(listing, dict) else listing
            route = route_of(message) if message is not None else ""
            for row in rows:
                fields = row.get("customFields") or {}
                if fields.get(CUSTOM_FIELD) == idempotency_key and (fields.get(ROUTE_FIELD) or "") == route:
                    return str(row.get("messageId") or row.get("_id"))
            start_key = (data or {}).get("nextKey")
            if not start_key or not rows:
                return None
        return None
