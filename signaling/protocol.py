"""The WebSocket protocol (docs/protocol.md): one frozen dataclass per message type.

Client messages are parsed strictly: a message that is too large, not JSON, of an unknown type or
with a field of the wrong type raises :class:`ProtocolError`, which the connection answers with
an ``error`` message; the connection, the room and everyone else carry on.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from sessions.errors import N_

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})

# Stable error ids with the text shown to people, as catalog msgids: the browser shows each
# in its page's language (``web.ui_strings`` hands it the translations).
ERRORS: dict[str, str] = {
    "too_large": N_("The message is too large."),
    "bad_json": N_("The message is not valid JSON."),
    "unknown_type": N_("Unknown message type."),
    "bad_field": N_("A field of the message is not valid."),
    "hello_first": N_("Send hello first."),
    "unsupported_version": N_("This protocol version is not supported. Reload the page."),
    "token_malformed": N_("The join link is not valid. Ask for a new one."),
    "token_signature": N_("The join link is not valid. Ask for a new one."),
    "token_expired": N_("The join link has expired. Ask for a new one."),
    "meeting_not_open": N_("The meeting is not open, or it has ended."),
    "removed": N_("You were removed from the meeting."),
    "not_admitted": N_("You are in the waiting room and not admitted yet."),
    "not_allowed": N_("Your role does not allow this action."),
    "unknown_participant": N_("There is no such participant."),
    "muted_by_chair": N_("The chair muted you. Raise your hand to ask for the floor."),
    "bad_sdp": N_("The session description could not be used."),
    "negotiation_failed": N_("The media connection could not be set up."),
    "slow_consumer": N_("The connection is too slow; reconnecting."),
    "replaced": N_("You joined this meeting from another window."),
    "recording_not_allowed": N_(
        "Recording cannot be switched in this meeting (dialogues are always recorded)."
    ),
    "token_signed_out": N_(
        "You signed out or your sign-in expired. Sign in again, then enter the meeting room."
    ),
    "rate_limited": N_("Too many messages of this kind; this one was not handled."),
    "server_busy": N_(
        "The server is at its capacity and takes nobody new for now; those already in the "
        "meeting go on. Try again in a few minutes."
    ),
    "internal": N_("The server failed to handle the request."),
}


class ProtocolError(Exception):
    def __init__(self, error_id: str, detail: str = "", ref: str | None = None) -> None:
        assert error_id in ERRORS, error_id
        super().__init__(f"{error_id}: {detail}" if detail else error_id)
        self.error_id = error_id
        self.detail = detail
        self.ref = ref


# ---- client → server -------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    type: ClassVar[str] = "hello"
    version: int
    token: str
    locale: str = "vi"
    recording_ack: bool = False  # the person read the recording notice before joining


@dataclass(frozen=True)
class PublishOffer:
    type: ClassVar[str] = "publish_offer"
    sdp: str
    audio_only: bool = False


@dataclass(frozen=True)
class SubscribeAnswer:
    type: ClassVar[str] = "subscribe_answer"
    sdp: str
    revision: int
    session: str = ""


@dataclass(frozen=True)
class Candidate:
    type: ClassVar[str] = "candidate"
    pc: Literal["publish", "subscribe"]
    candidate: str | None = None  # None: end of candidates
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


@dataclass(frozen=True)
class Mute:
    type: ClassVar[str] = "mute"
    audio: bool
    video: bool


@dataclass(frozen=True)
class RaiseHand:
    type: ClassVar[str] = "raise_hand"
    raised: bool


@dataclass(frozen=True)
class IceRestart:
    type: ClassVar[str] = "ice_restart"


@dataclass(frozen=True)
class Ping:
    type: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Leave:
    type: ClassVar[str] = "leave"


@dataclass(frozen=True)
class Admit:
    type: ClassVar[str] = "admit"
    participant_id: str | None = None
    all: bool = False


@dataclass(frozen=True)
class SendBack:
    type: ClassVar[str] = "send_back"
    participant_id: str


@dataclass(frozen=True)
class MuteParticipant:
    type: ClassVar[str] = "mute_participant"
    participant_id: str


@dataclass(frozen=True)
class RemoveParticipant:
    type: ClassVar[str] = "remove"
    participant_id: str


@dataclass(frozen=True)
class GiveFloor:
    type: ClassVar[str] = "give_floor"
    participant_id: str | None = None


@dataclass(frozen=True)
class EndMeeting:
    type: ClassVar[str] = "end_meeting"


@dataclass(frozen=True)
class RecordingControl:
    type: ClassVar[str] = "recording_control"
    action: Literal["start", "stop"]


ClientMessage = (
    Hello
    | PublishOffer
    | SubscribeAnswer
    | Candidate
    | Mute
    | RaiseHand
    | IceRestart
    | Ping
    | Leave
    | Admit
    | SendBack
    | MuteParticipant
    | RemoveParticipant
    | GiveFloor
    | EndMeeting
    | RecordingControl
)
CLIENT_TYPES: dict[str, type[Any]] = {
    cls.type: cls
    for cls in (
        Hello,
        PublishOffer,
        SubscribeAnswer,
        Candidate,
        Mute,
        RaiseHand,
        IceRestart,
        Ping,
        Leave,
        Admit,
        SendBack,
        MuteParticipant,
        RemoveParticipant,
        GiveFloor,
        EndMeeting,
        RecordingControl,
    )
}
MAX_TEXT = 200_000


def _check(value: object, hint: Any, name: str) -> object:
    """Validate one field against its annotation (str, int, bool, Literal, X | None)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return _check(value, option, name)
            except ProtocolError:
                continue
        raise ProtocolError("bad_field", name)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ProtocolError("bad_field", name)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ProtocolError("bad_field", name)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**53:
            raise ProtocolError("bad_field", name)
        return value
    if hint is str:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ProtocolError("bad_field", name)
        return value
    raise ProtocolError("bad_field", name)


_HINTS: dict[type[Any], dict[str, Any]] = {
    cls: typing.get_type_hints(cls) for cls in CLIENT_TYPES.values()
}


def parse_client(text: str | bytes, max_bytes: int) -> ClientMessage:
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise ProtocolError("too_large", f"{size} bytes, the limit is {max_bytes}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("bad_json", str(exc)[:100]) from exc
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", "expected an object")
    kind = data.get("type")
    cls = CLIENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError("unknown_type", repr(kind)[:60])
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            values[f.name] = _check(data[f.name], _HINTS[cls][f.name], f.name)
        elif f.default is dataclasses.MISSING:
            raise ProtocolError("bad_field", f"{f.name} is missing", ref=cls.type)
    message: ClientMessage = cls(**values)
    return message


# ---- server → client -------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipantInfo:
    id: str
    name: str
    role: str
    role_label: str
    site_id: int | None
    state: Literal["waiting", "present", "reconnecting"]
    audio_muted: bool = False
    video_muted: bool = False
    audio_only: bool = False
    hand_raised: bool = False
    muted_by_chair: bool = False
    has_floor: bool = False


@dataclass(frozen=True)
class IceServerInfo:
    urls: list[str]
    username: str = ""
    credential: str = ""


@dataclass(frozen=True)
class TrackInfo:
    mid: str
    kind: Literal["audio", "video"]
    participant_id: str


@dataclass(frozen=True)
class Welcome:
    type: ClassVar[str] = "welcome"
    version: int
    participant_id: str
    meeting_id: int
    role: str
    waiting: bool
    participants: list[ParticipantInfo]
    ice_servers: list[IceServerInfo]
    video_kbps: int
    audio_kbps: int
    max_message_bytes: int
    resumed: bool = False
    recording: bool = False
    recording_detail: str = ""


@dataclass(frozen=True)
class PublishAnswer:
    type: ClassVar[str] = "publish_answer"
    sdp: str


@dataclass(frozen=True)
class SubscribeOffer:
    type: ClassVar[str] = "subscribe_offer"
    sdp: str
    revision: int
    tracks: list[TrackInfo]
    session: str  # a new value means a new subscribe connection: drop the old one


@dataclass(frozen=True)
class ParticipantJoined:
    type: ClassVar[str] = "participant_joined"
    participant: ParticipantInfo


@dataclass(frozen=True)
class ParticipantUpdated:
    type: ClassVar[str] = "participant_updated"
    participant: ParticipantInfo


@dataclass(frozen=True)
class ParticipantLeft:
    type: ClassVar[str] = "participant_left"
    participant_id: str
    reason: Literal["left", "removed", "timeout", "sent_back"]


@dataclass(frozen=True)
class ActiveSpeaker:
    type: ClassVar[str] = "active_speaker"
    participant_id: str | None


@dataclass(frozen=True)
class Waiting:
    type: ClassVar[str] = "waiting"


@dataclass(frozen=True)
class Admitted:
    type: ClassVar[str] = "admitted"


@dataclass(frozen=True)
class WaitingList:
    type: ClassVar[str] = "waiting_list"
    participants: list[ParticipantInfo]


@dataclass(frozen=True)
class MutedByChair:
    type: ClassVar[str] = "muted_by_chair"


@dataclass(frozen=True)
class Floor:
    type: ClassVar[str] = "floor"
    participant_id: str | None


@dataclass(frozen=True)
class Removed:
    type: ClassVar[str] = "removed"


@dataclass(frozen=True)
class MeetingEnded:
    type: ClassVar[str] = "meeting_ended"


@dataclass(frozen=True)
class Bitrate:
    type: ClassVar[str] = "bitrate"
    video_kbps: int
    audio_kbps: int


@dataclass(frozen=True)
class VideoLink:
    """This subscriber's link does not carry a participant's video (``paused``: sound only),
    or carries it again."""

    type: ClassVar[str] = "video_link"
    participant_id: str
    paused: bool


@dataclass(frozen=True)
class Pong:
    type: ClassVar[str] = "pong"


@dataclass(frozen=True)
class ErrorMessage:
    type: ClassVar[str] = "error"
    id: str
    message: str  # the English msgid; the browser shows its translation for ``id``
    ref: str | None = None


@dataclass(frozen=True)
class RecordingState:
    type: ClassVar[str] = "recording"
    active: bool
    detail: str = ""


ServerMessage = (
    Welcome
    | PublishAnswer
    | SubscribeOffer
    | ParticipantJoined
    | ParticipantUpdated
    | ParticipantLeft
    | ActiveSpeaker
    | Waiting
    | Admitted
    | WaitingList
    | MutedByChair
    | Floor
    | Removed
    | MeetingEnded
    | Bitrate
    | VideoLink
    | Pong
    | ErrorMessage
    | RecordingState
)


def error(error_id: str, ref: str | None = None) -> ErrorMessage:
    return ErrorMessage(id=error_id, message=ERRORS[error_id], ref=ref)


def coalesce_key(message: ServerMessage) -> str | None:
    """Messages that state a current value carry a key: a newer message with the same key
    replaces one still waiting in a connection's outbox instead of queueing behind it."""
    match message:
        case ParticipantUpdated():
            return f"participant:{message.participant.id}"
        case VideoLink():
            return f"video_link:{message.participant_id}"
        case Floor() | ActiveSpeaker() | WaitingList() | Bitrate() | RecordingState() | Pong():
            return message.type
        case ErrorMessage():
            # One of each error per message type is enough to tell a flooding client.
            return f"error:{message.id}:{message.ref}"
    return None


def encode(message: ServerMessage) -> str:
    return json.dumps(
        {"type": message.type, **dataclasses.asdict(message)},
        ensure_ascii=False,
        separators=(",", ":"),
    )
