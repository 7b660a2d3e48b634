"""Signed tokens: join tokens (who may join which meeting, as whom, until when) and calendar
feed tokens (whose meetings a calendar application may read).

A token is ``base64url(json claims) "." base64url(HMAC-SHA256)``; the key is the server's
``session.key`` and each kind of token has its own MAC domain, so one can never pass for the
other. Tokens never carry a denouncer's identity: the display name of an outside person is what
the officer chose to show in the meeting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class RoomRole(StrEnum):
    CHAIR = "chair"
    OFFICER = "officer"
    SECRETARY = "secretary"
    SITE = "site"  # an endpoint's kiosk
    PARTICIPANT = "participant"  # citizen, representative, lawyer, agency, …
    # What each may do in the room: ``sessions.permissions.ROOM_RULES``.


class TokenError(Exception):
    """The token cannot be used; ``reason`` is a stable id (malformed, signature, expired)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JoinClaims:
    meeting_id: int
    subject: str  # "user:12", "site:7", "invitee:3": one place in the meeting per subject
    name: str
    role: RoomRole
    expires: int  # Unix seconds
    site_id: int | None = None
    role_label: str = ""
    # A signed-in person's token names the browser sign-in it was issued to: once that
    # sign-in ends (signed out, expired, password changed), the token no longer joins.
    web_session: int | None = None

    def __post_init__(self) -> None:
        if not self.subject or ":" not in self.subject:
            raise TokenError("malformed")
        # An invitee's token carries no name (a link can be forwarded, read, logged): the name
        # is looked up when it is used (``sessions.joining.with_invitee_name``).
        if not self.name.strip() and not self.subject.startswith("invitee:"):
            raise TokenError("malformed")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


JOIN = b"join-token"
FEED = b"calendar-feed"


def _mac(key: bytes, body: bytes, domain: bytes = JOIN) -> bytes:
    return hmac.new(key, domain + b"\x00" + body, hashlib.sha256).digest()


def _seal(data: dict[str, object], key: bytes, domain: bytes) -> str:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return f"{_b64(body)}.{_b64(_mac(key, body, domain))}"


def _open(token: str, key: bytes, domain: bytes) -> dict[str, Any]:
    try:
        body_text, mac_text = token.split(".")
        body = _unb64(body_text)
        mac = _unb64(mac_text)
    except ValueError as exc:
        raise TokenError("malformed") from exc
    if not hmac.compare_digest(mac, _mac(key, body, domain)):
        raise TokenError("signature")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise TokenError("malformed") from exc
    if not isinstance(data, dict):
        raise TokenError("malformed")
    return data


def sign(claims: JoinClaims, key: bytes) -> str:
    return _seal(asdict(claims), key, JOIN)


def sign_feed(user_id: int, key: bytes) -> str:
    """A calendar feed's token: read-only, for one person's meetings (no expiry: a calendar
    application subscribes once; deactivating the account stops the feed)."""
    return _seal({"user": user_id}, key, FEED)


def verify_feed(token: str, key: bytes) -> int:
    data = _open(token, key, FEED)
    user_id = data.get("user")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        raise TokenError("malformed")
    return user_id


def verify(token: str, key: bytes, now: datetime) -> JoinClaims:
    data = _open(token, key, JOIN)
    try:
        claims = JoinClaims(
            meeting_id=int(data["meeting_id"]),
            subject=str(data["subject"]),
            name=str(data["name"]),
            role=RoomRole(data["role"]),
            expires=int(data["expires"]),
            site_id=None if data.get("site_id") is None else int(data["site_id"]),
            role_label=str(data.get("role_label", "")),
            web_session=None if data.get("web_session") is None else int(data["web_session"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("malformed") from exc
    if claims.expires <= now.timestamp():
        raise TokenError("expired")
    return claims
