"""The wire protocol: strict parsing, stable errors, and the document that specifies it."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest

from sessions import tokens
from sessions.tokens import JoinClaims, RoomRole
from signaling import protocol
from tests.conftest import START
from web.i18n import load_translations
from web.ui_strings import translated

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
SERVER_TYPES = [t for t in typing.get_args(protocol.ServerMessage)]


def test_minimal_messages_parse() -> None:
    samples: dict[str, dict[str, object]] = {
        "hello": {"version": 1, "token": "t"},
        "publish_offer": {"sdp": "v=0"},
        "subscribe_answer": {"sdp": "v=0", "revision": 3},
        "candidate": {"pc": "publish"},
        "mute": {"audio": True, "video": False},
        "raise_hand": {"raised": True},
        "admit": {"all": True},
        "send_back": {"participant_id": "p1"},
        "mute_participant": {"participant_id": "p1"},
        "remove": {"participant_id": "p1"},
        "give_floor": {},
        "recording_control": {"action": "start"},
    }
    for name, cls in protocol.CLIENT_TYPES.items():
        message = protocol.parse_client(json.dumps({"type": name, **samples.get(name, {})}), 1000)
        assert isinstance(message, cls)


@pytest.mark.parametrize(
    ("text", "error_id"),
    [
        ("{", "bad_json"),
        ("[1, 2]", "bad_json"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"kind": "hello"}', "unknown_type"),
        ('{"type": "mute", "audio": "yes", "video": false}', "bad_field"),
        ('{"type": "mute", "audio": 1, "video": false}', "bad_field"),
        ('{"type": "subscribe_answer", "sdp": "x", "revision": true}', "bad_field"),
        ('{"type": "candidate", "pc": "both"}', "bad_field"),
        ('{"type": "publish_offer"}', "bad_field"),
        ('{"type": "recording_control", "action": "rewind"}', "bad_field"),
        ('{"type": "hello", "version": 1e400, "token": "x"}', "bad_field"),
        ('{"type": "raise_hand", "raised": true, "pad": "' + "x" * 2000 + '"}', "too_large"),
    ],
)
def test_refusals_have_stable_ids(text: str, error_id: str) -> None:
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse_client(text, 1000)
    assert refused.value.error_id == error_id


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    message = protocol.parse_client('{"type": "ping", "future": 1}', 1000)
    assert isinstance(message, protocol.Ping)


def test_every_error_speaks_both_languages() -> None:
    vietnamese = load_translations()["vi"]
    for error_id, en in protocol.ERRORS.items():
        vi = vietnamese.gettext(en)
        assert vi != en, f"{error_id} has no Vietnamese in the catalog"
        encoded = json.loads(protocol.encode(protocol.error(error_id, ref="x")))
        assert encoded == {"type": "error", "id": error_id, "message": en, "ref": "x"}
        # The page a Vietnamese reader opens carries the translation under the error's id.
        assert translated(vietnamese)[f"error:{error_id}"] == vi


def test_the_document_specifies_every_message_and_error() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in protocol.CLIENT_TYPES:
        assert f"`{name}`" in text, f"docs/protocol.md does not specify client message {name}"
    for cls in SERVER_TYPES:
        assert f"`{cls.type}`" in text, (
            f"docs/protocol.md does not specify server message {cls.type}"
        )
        for field in dataclasses.fields(cls):
            assert f"`{field.name}`" in text, f"{cls.type}.{field.name} is not documented"
    for error_id in protocol.ERRORS:
        assert f"`{error_id}`" in text, f"docs/protocol.md does not list error {error_id}"
    assert f"version {protocol.PROTOCOL_VERSION}" in text


def test_join_tokens() -> None:
    key = b"k" * 32
    claims = JoinClaims(
        meeting_id=7,
        subject="site:3",
        name="UBND Xã Hoa Thám",
        role=RoomRole.SITE,
        expires=int(START.timestamp()) + 60,
        site_id=3,
    )
    signed = tokens.sign(claims, key)
    assert tokens.verify(signed, key, START) == claims
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(signed, b"x" * 32, START)
    body, mac = signed.split(".")
    with pytest.raises(tokens.TokenError, match="signature"):
        tokens.verify(body[:-2] + "AA." + mac, key, START)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(signed, key, START.replace(year=2027))
    for junk in ("", "abc", "a.b.c", "!!!.???"):
        with pytest.raises(tokens.TokenError):
            tokens.verify(junk, key, START)
