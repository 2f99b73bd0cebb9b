"""Outbound URL policy: where the service's own HTTP requests (webhooks, the HTTP gateway, the
other HTTP providers) may go. The one defence against server-side request forgery: an API key
that may register a webhook must not make our workers reach the cloud metadata service, Redis,
the database or anything else on the internal network, nor learn what is there.

* `check_url(url)` -- the whole policy for a URL: `https` only where `OUTBOUND_REQUIRE_HTTPS`
  (production), no user-info (`user:pass@`), a host whose every address is public. Called when a
  webhook is subscribed, and again before every send (a name may resolve elsewhere by then).
* `vetted_addresses(host, port)` -- resolves the host and refuses it if *any* address is
  loopback, private, link-local, multicast, reserved, unspecified, shared (100.64/10) or an
  IPv4-mapped / 6to4 / Teredo IPv6 form of one, unless `OUTBOUND_ALLOWLIST` names the host or a
  network holding the address (the operator's explicit list of internal targets, e.g. an
  internal SMS gateway).
* `urlopen(request, timeout)` -- urllib without redirects (a 3xx is returned as is: a redirect
  could point anywhere) and with the connection made to an address vetted at connect time,
  so DNS rebinding between the check and the connect gains nothing.
* `error_category(text)` -- what an API caller may learn of a delivery failure: a category,
  never the detail ("connection refused" vs "HTTP 403" would map the network). The detail stays
  in staff views (the supervisor console, the admin).
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings


class OutboundRefused(ValueError):
    """The URL or the address it resolves to is not allowed. `reason` is Korean, for people;
    str(exc) is a short English text safe for logs and `last_error`."""

    def __init__(self, detail: str, reason: str):
        super().__init__(f"refused by outbound policy: {detail}")
        self.reason = reason


def _allowlist() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts, networks = set(), []
    for entry in getattr(settings, "OUTBOUND_ALLOWLIST", []) or []:
        entry = str(entry).strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry.rstrip("."))
    return hosts, networks


def _effective(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 form stands for (mapped ::ffff:a.b.c.d, 6to4, Teredo), else ip."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return ip


def address_refusal(ip) -> str:
    """Why this address may not be reached ("" if it may)."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    real = _effective(ip)
    for candidate in {ip, real}:
        for what in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
            if getattr(candidate, f"is_{what}"):
                return what.replace("_", "-")
        if not candidate.is_global:
            return "not-global"
    return ""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address of `host` (the one place that asks DNS; tests substitute a fake)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def vetted_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, if all may be reached; else OutboundRefused.
    A name that does not resolve raises socket.gaierror (a DNS failure may pass)."""
    hosts, networks = _allowlist()
    name = (host or "").strip("[]").lower().rstrip(".")
    addresses = resolve_host(name, port)
    if name in hosts:
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        forms = {ip, _effective(ip)}
        if any(form in net for net in networks for form in forms if form.version == net.version):
            continue
        why = address_refusal(ip)
        if why:
            raise OutboundRefused(
                f"{why} address", "내부망·예약 주소로는 보낼 수 없습니다. 공개된 주소를 사용해 주세요."
            )
    return addresses


def check_url(url: str, *, resolve: bool = True) -> str:
    """The URL if the policy allows it (resolving its host now, unless `resolve` is False:
    then the connection vets the addresses); OutboundRefused if not."""
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise OutboundRefused("malformed URL", "올바른 주소가 아닙니다.") from None
    scheme = parts.scheme.lower()
    https_only = getattr(settings, "OUTBOUND_REQUIRE_HTTPS", False)
    if scheme != "https" and (https_only or scheme != "http"):
        raise OutboundRefused(
            "scheme", "https 주소만 사용할 수 있습니다." if https_only else "http 또는 https 주소만 사용할 수 있습니다."
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundRefused("user-info in URL", "주소에 사용자 이름이나 비밀번호를 넣을 수 없습니다.")
    if not parts.hostname:
        raise OutboundRefused("no host", "주소에 호스트가 없습니다.")
    if not resolve:
        return text
    try:
        vetted_addresses(parts.hostname, port or (443 if scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        raise OutboundRefused("host not found", "주소의 호스트를 찾을 수 없습니다.") from None
    return text


# --- Transport: no redirects, connections only to vetted addresses ----------------------------


def _guarded_create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, **kwargs):
    host, port = address
    last_error: OSError | None = None
    for ip in vetted_addresses(host, port):
        try:
            return socket.create_connection((ip, port), timeout, source_address)
        except OSError as exc:
            last_error = exc
    raise last_error or OSError("no address")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a vetted address; TLS still verifies the certificate for the URL's host."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _guarded_create_connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context)


def _opener() -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    # No HTTPRedirectHandler (a 3xx comes back as an HTTPError) and no ProxyHandler.
    for handler in (
        _HTTPHandler(),
        _HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def urlopen(req: urllib.request.Request, timeout: float):
    """Open `req` under the policy: the URL's shape first (OutboundRefused), then a connection
    to a vetted address only (OutboundRefused; a DNS failure stays a temporary URLError), never
    following a redirect."""
    check_url(req.full_url, resolve=False)
    return _opener().open(req, timeout=timeout)


# --- What an API caller may learn of a failure ------------------------------------------------

ERROR_CATEGORIES = (
    "refused_by_policy",
    "timeout",
    "connection_failed",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "configuration",
    "not_delivered",
    "fell_back",
    "other",
)
# The words a delivery error is written with when the provider's later report says the message
# did not arrive, and when a failed AlimTalk goes out again as SMS/LMS (notifications writes them).
NOT_DELIVERED = "수신 실패"
FELL_BACK = "대체 문자로 발송"
_HTTP_STATUS = re.compile(r"\bHTTP ([1-5])\d\d\b")


def error_category(text: str | None) -> str:
    """A delivery error's category ("" for none). Connection refused, host not found and reset
    are one category on purpose: telling them apart is what maps a network."""
    text = (text or "").strip()
    if not text:
        return ""
    lowered = text.lower()
    if FELL_BACK in text:
        return "fell_back"
    if NOT_DELIVERED in text:
        return "not_delivered"
    if "outbound policy" in lowered:
        return "refused_by_policy"
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    if match := _HTTP_STATUS.search(text):
        return f"http_{match.group(1)}xx"
    if any(word in lowered for word in ("connection", "host not found", "unreachable")):
        return "connection_failed"
    if any(word in lowered for word in ("is not set", "must be one of", "no provider", "unknown provider")):
        return "configuration"
    return "other"
