"""The two peer connections of a participant: publish (client offers) and subscribe (server offers).

Both use aiortc with an explicit ICE server list (never aiortc's public default) and max-bundle.
Published tracks become :class:`Source` objects; subscribed tracks are transceivers whose senders
are driven by :class:`Forwarder` objects. A subscribe transceiver whose source left is kept,
inactive, and reused for the next source of the same kind and codec, so a long meeting does not
grow its session description with every join and leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from sessions.settings import IceServer
from signaling import protocol
from signaling.media.adapter import (
    ReceiverTap,
    RTCRtpCodecCapability,
    candidate_from_sdp,
    offer_problem,
)
from signaling.media.forwarder import Forwarder
from signaling.media.source import Source

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 20.0


def rtc_configuration(servers: tuple[IceServer, ...]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=list(s.urls), username=s.username or None, credential=s.credential or None
            )
            for s in servers
        ],
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
    )


@dataclass(frozen=True)
class CandidatePolicy:
    """Which remote candidates the server accepts: never mDNS names (a browser hides its
    address behind ``.local`` without a camera grant), and only the configured networks."""

    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, networks: tuple[str, ...]) -> CandidatePolicy:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def accepts(self, candidate_line: str) -> bool:
        parts = candidate_line.split()
        if len(parts) < 8:
            return False
        address = parts[4]
        if address.endswith(".local"):
            return False
        if not self.allowed:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.allowed)

    def filter_sdp(self, sdp: str) -> str:
        lines = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:") and not self.accepts(line[2:]):
                continue
            lines.append(line)
        return "\r\n".join(lines) + "\r\n"


async def add_candidate(
    pc: RTCPeerConnection, policy: CandidatePolicy, message: protocol.Candidate
) -> None:
    if message.candidate is None or not message.candidate.strip():
        return  # end of candidates: aiortc needs no signal
    line = message.candidate.strip()
    if line.startswith("candidate:"):
        line = line[len("candidate:") :]
    if not policy.accepts("candidate:" + line):
        return
    try:
        candidate = candidate_from_sdp(line)
    except (ValueError, IndexError) as exc:
        raise protocol.ProtocolError("bad_field", "candidate", ref="candidate") from exc
    candidate.sdpMid = message.sdp_mid
    candidate.sdpMLineIndex = message.sdp_mline_index
    await pc.addIceCandidate(candidate)


class PublishPeer:
    """The connection on which a participant sends its camera and microphone."""

    def __init__(
        self,
        participant_id: str,
        configuration: RTCConfiguration,
        policy: CandidatePolicy,
        on_source: Callable[[Source], None],
        bitrate_cap_bps: Callable[[Source], int],
        on_failed: Callable[[], None],
    ) -> None:
        self.participant_id = participant_id
        self.pc = RTCPeerConnection(configuration)
        self.policy = policy
        self.sources: dict[str, Source] = {}
        self._on_source = on_source
        self._cap = bitrate_cap_bps
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._state_changed(on_failed))

    def _state_changed(self, on_failed: Callable[[], None]) -> Callable[[], None]:
        def changed() -> None:
            if self.pc.connectionState == "failed":
                on_failed()

        return changed

    def _on_track(self, track: object) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        kind = transceiver.kind
        if kind in self.sources:
            return
        source = Source(
            track_id=f"{self.participant_id}-{kind}-{uuid.uuid4().hex[:6]}",
            participant_id=self.participant_id,
            kind=kind,
            tap_factory=lambda src: ReceiverTap.for_transceiver(
                transceiver, src.on_rtp, src.on_sender_report
            ),
            bitrate_cap_bps=lambda: self._cap(source),
        )
        self.sources[kind] = source
        source.start()
        self._on_source(source)

    @staticmethod
    def check_offer(offer_sdp: str) -> None:
        """Refuse an offer that is not SDP before anything of the current publication goes."""
        problem = offer_problem(offer_sdp)
        if problem is not None:
            raise protocol.ProtocolError("bad_sdp", problem, ref="publish_offer")

    async def answer(self, offer_sdp: str) -> str:
        self.check_offer(offer_sdp)
        try:
            await self.pc.setRemoteDescription(
                RTCSessionDescription(sdp=self.policy.filter_sdp(offer_sdp), type="offer")
            )
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except (ValueError, AttributeError, IndexError, KeyError) as exc:
            raise protocol.ProtocolError("bad_sdp", str(exc)[:200], ref="publish_offer") from exc
        description = self.pc.localDescription
        assert description is not None
        return description.sdp

    async def add_candidate(self, message: protocol.Candidate) -> None:
        await add_candidate(self.pc, self.policy, message)

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sources.values()))
        await self.pc.close()


@dataclass
class Slot:
    transceiver: RTCRtpTransceiver
    forwarder: Forwarder
    codec: str  # the source codec this transceiver was negotiated for

    @property
    def source(self) -> Source | None:
        return self.forwarder.source if self.transceiver.direction == "sendonly" else None


def codec_preferences(kind: str, mime_type: str) -> list[RTCRtpCodecCapability]:
    """Offer exactly the publisher's codec (and RTX for video): forwarding cannot transcode."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in capabilities if c.mimeType.lower() == mime_type.lower()]
    if kind == "video":
        chosen += [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    return chosen


class SubscribePeer:
    """The connection on which a participant receives everyone else, renegotiated by the
    server whenever the set of sources it should see changes."""

    def __init__(
        self,
        configuration: RTCConfiguration,
        policy: CandidatePolicy,
        send: Callable[[protocol.ServerMessage], bool],
        on_failed: Callable[[], None],
    ) -> None:
        self.configuration = configuration
        self.policy = policy
        self.pc: RTCPeerConnection | None = None
        self.slots: list[Slot] = []
        self.revision = 0
        self.session = uuid.uuid4().hex[:12]
        self._send = send
        self._on_failed = on_failed
        self._wanted: list[Source] = []
        self._dirty = asyncio.Event()
        self._answer: asyncio.Future[str] | None = None
        self._task = asyncio.create_task(self._negotiate_loop())

    def want(self, sources: list[Source]) -> None:
        if [s.track_id for s in sources] != [s.track_id for s in self._wanted]:
            self._wanted = list(sources)
            self._dirty.set()

    def _layer_event(self, forwarder: Forwarder, event: str) -> None:
        """Tell the subscriber that its link carries no video of someone, or does again."""
        self._send(
            protocol.VideoLink(
                participant_id=forwarder.source.participant_id, paused=event == "paused"
            )
        )

    @property
    def forwarders(self) -> list[Forwarder]:
        return [slot.forwarder for slot in self.slots if slot.source is not None]

    def answered(self, message: protocol.SubscribeAnswer) -> None:
        if (
            message.revision != self.revision
            or (message.session and message.session != self.session)
            or self._answer is None
            or self._answer.done()
        ):
            return  # an answer to an offer that was superseded
        self._answer.set_result(message.sdp)

    async def add_candidate(self, message: protocol.Candidate) -> None:
        if self.pc is not None:
            await add_candidate(self.pc, self.policy, message)

    async def _negotiate_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._negotiate()
            except TimeoutError:
                log.info("subscriber did not answer offer %s", self.revision)
                self._on_failed()
            except protocol.ProtocolError as exc:
                self._send(protocol.error(exc.error_id, ref="subscribe_answer"))
            except Exception:
                log.exception("subscribe negotiation failed")
                self._send(protocol.error("negotiation_failed"))

    def _apply_wanted(self) -> bool:
        """Bind, rebind and release transceivers; True if the SDP must change."""
        changed = False
        wanted = [s for s in self._wanted if s.tap.started.is_set()]
        for slot in self.slots:
            if slot.source is not None and slot.source not in wanted:
                slot.forwarder.detach()
                slot.transceiver.direction = "inactive"
                changed = True
        bound = {id(slot.source) for slot in self.slots if slot.source is not None}
        for source in wanted:
            if id(source) in bound:
                continue
            codec = next(iter(source.tap.codecs.values())).mime_type
            free = next(
                (
                    s
                    for s in self.slots
                    if s.source is None
                    and s.transceiver.kind == source.kind
                    and s.codec.lower() == codec.lower()
                ),
                None,
            )
            if free is None:
                self._new_slot(source, codec)
            else:
                free.transceiver.direction = "sendonly"
                free.forwarder.bind(source)
            changed = True
        return changed

    def _new_slot(self, source: Source, codec: str) -> Slot:
        if self.pc is None:
            self.pc = RTCPeerConnection(self.configuration)

            @self.pc.on("connectionstatechange")
            def changed() -> None:
                if self.pc is not None and self.pc.connectionState == "failed":
                    self._on_failed()

        transceiver = self.pc.addTransceiver(source.kind, direction="sendonly")
        transceiver.setCodecPreferences(codec_preferences(source.kind, codec))
        # Attached only once the subscriber applied the offer: until then its receiver for this
        # transceiver does not exist or is disabled, and what it drops it can never recover.
        forwarder = Forwarder(
            transceiver.sender, source.kind, source, on_layer_event=self._layer_event
        )
        slot = Slot(transceiver, forwarder, codec)
        self.slots.append(slot)
        return slot

    async def _negotiate(self) -> None:
        if not self._apply_wanted() or self.pc is None:
            return
        pc = self.pc
        await pc.setLocalDescription(await pc.createOffer())
        description = pc.localDescription
        assert description is not None
        self.revision += 1
        tracks = [
            protocol.TrackInfo(
                mid=slot.transceiver.mid or "",
                kind="audio" if slot.transceiver.kind == "audio" else "video",
                participant_id=source.participant_id,
            )
            for slot in self.slots
            if (source := slot.source) is not None
        ]
        self._answer = asyncio.get_running_loop().create_future()
        self._send(
            protocol.SubscribeOffer(
                sdp=description.sdp, revision=self.revision, tracks=tracks, session=self.session
            )
        )
        sdp = await asyncio.wait_for(self._answer, ANSWER_TIMEOUT)
        try:
            await pc.setRemoteDescription(
                RTCSessionDescription(sdp=self.policy.filter_sdp(sdp), type="answer")
            )
        except (ValueError, AttributeError, IndexError, KeyError) as exc:
            raise protocol.ProtocolError("bad_sdp", str(exc)[:200]) from exc
        for slot in self.slots:
            if slot.source is not None:
                slot.forwarder.attach()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        for slot in self.slots:
            slot.forwarder.close()
        if self.pc is not None:
            await self.pc.close()
