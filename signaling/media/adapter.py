"""Every reliance on aiortc and aioice internals, in one place (aiortc 1.16, aioice 0.13).

aiortc has no public hook for forwarding: its receiver depayloads, reorders and decodes, and its
sender encodes. This module takes over both ends at the RTP level, on single-underscore names
only (no name-mangled state), and checks at import that every name it relies on exists, so an
upgrade fails here, loudly, and ``tests/test_adapter.py`` says what changed.

- ``ReceiverTap``: a publisher's receiver hands decrypted RTP packets to the room; no jitter
  buffer, no decoder thread, no decoder. Its SRTP packets are taken off the ICE socket's
  callback and handled there (``DirectReceive``), not parsed as STUN, queued by aioice and
  read again by the DTLS transport's task; RTCP, DTLS and STUN go the usual way.
- ``SenderTap``: a subscriber's sender never encodes (its track is parked); the room writes
  packets with the sender's SSRC through the transport, answers NACKs and keyframe requests,
  and fills its sender reports.
- ``SrtpCall``: one SRTP session's protect or unprotect, without pylibsrtp's per-call allocation
  (its ``Session`` buffers are reused: the same bytes, less work on every packet).
- ``restrict_host_addresses``: which local addresses ICE gathers on (aioice skips loopback).
- ``route_rtx_streams``: lets an aiortc *client* receive retransmissions (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aioice.ice
import aiortc
import pylibsrtp
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    clock,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecCapability as RTCRtpCodecCapability
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import NackGenerator as NackGenerator
from aiortc.rtcrtpreceiver import StreamStatistics as StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)
from aiortc.rtp import RtcpReceiverInfo as RtcpReceiverInfo
from aiortc.rtp import RtcpSrPacket as RtcpSrPacket
from aiortc.rtp import RtpPacket as RtpPacket
from aiortc.sdp import SessionDescription
from aiortc.sdp import candidate_from_sdp as candidate_from_sdp
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

from signaling.media.rtp import OutboundIdentity

SUPPORTED_AIORTC = "1.16."
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"

_SRTP_PROBE = pylibsrtp.Session()  # SrtpCall reads these attributes of every session
_REQUIRED: tuple[tuple[object, str], ...] = (
    (RTCRtpReceiver, "_handle_rtp_packet"),
    (RTCRtpReceiver, "_handle_rtcp_packet"),
    (RTCRtpReceiver, "_send_rtcp"),
    (RTCRtpReceiver, "_send_rtcp_pli"),
    (RTCRtpReceiver, "_send_rtcp_nack"),
    (RTCRtpReceiver, "receive"),
    (RTCRtpSender, "_send_keyframe"),
    (RTCRtpSender, "_handle_rtcp_packet"),
    (RTCRtpSender, "_send_rtcp"),
    (RTCRtpSender, "send"),
    (RTCDtlsTransport, "_register_rtp_receiver"),
    (RTCDtlsTransport, "_unregister_rtp_receiver"),
    (RTCDtlsTransport, "_send_rtp"),
    (aioice.ice, "get_host_addresses"),
    (aioice.ice.Connection, "sendto"),
    (_SRTP_PROBE, "_srtp"),
    (_SRTP_PROBE, "_cdata"),
    (_SRTP_PROBE, "_buffer"),
    (pylibsrtp, "_srtp_assert"),
)


def check_internals() -> list[str]:
    """The internals this module needs that the installed aiortc/aioice lack (empty: all fine)."""
    missing = [
        f"{getattr(o, '__name__', type(o).__name__)}.{name}"
        for o, name in _REQUIRED
        if not hasattr(o, name)
    ]
    if not aiortc.__version__.startswith(SUPPORTED_AIORTC):
        missing.append(f"aiortc {aiortc.__version__} (adapter written for {SUPPORTED_AIORTC}x)")
    return missing


_MISSING = check_internals()
if _MISSING:
    raise ImportError("signaling.media.adapter cannot hook this aiortc: " + ", ".join(_MISSING))

RtpHandler = Callable[[RtpPacket], None]

SRTP_MAX_TRAILER = 16  # what protect may add to an RTP packet (pylibsrtp's SRTP_MAX_TRAILER_LEN)


class SrtpCall:
    """``session.protect`` (or ``unprotect``) for one packet after another: the C call on the
    session's own buffer, with its length cell made once rather than per packet. Raises
    ``pylibsrtp.Error`` where pylibsrtp would (a packet that does not authenticate, a replay)."""

    __slots__ = ("_buffer", "_cdata", "_function", "_length", "_limit", "_srtp", "session")

    def __init__(self, session: pylibsrtp.Session, protect: bool) -> None:
        self.session = session  # holds the C session: freed with it
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._function = _srtp_lib.srtp_protect if protect else _srtp_lib.srtp_unprotect
        self._limit = len(session._cdata) - (SRTP_MAX_TRAILER if protect else 0)
        self._length = _srtp_ffi.new("int *")

    def __call__(self, data: bytes) -> bytes:
        size = len(data)
        if size > self._limit:
            raise ValueError("packet is too long")
        length = self._length
        length[0] = size
        buffer = self._buffer
        buffer[0:size] = data
        status = self._function(self._srtp, self._cdata, length)
        if status:  # pylibsrtp.Error, with libsrtp's reason
            pylibsrtp._srtp_assert(status)  # type: ignore[no-untyped-call]
        protected: bytes = buffer[0 : length[0]]  # a copy, as pylibsrtp returns
        return protected


@dataclass(frozen=True)
class InboundCodec:
    payload_type: int
    mime_type: str
    clock_rate: int


class ReceiverTap:
    """Takes a publisher's ``RTCRtpReceiver`` over: RTP goes to ``on_rtp`` undecoded.

    Must be installed before the remote description is applied, so aiortc's ``receive()``
    (which would start a decoder thread) is never run.
    """

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        rtcp_ssrc: int,
        on_rtp: RtpHandler,
        on_sender_report: Callable[[RtcpSrPacket], None],
    ) -> None:
        self._receiver = receiver
        self.rtcp_ssrc = rtcp_ssrc
        self.codecs: dict[int, InboundCodec] = {}
        self.rtx_payload_types: dict[int, int] = {}  # rtx pt -> original pt
        self.rtx_ssrcs: dict[int, int] = {}  # rtx ssrc -> original ssrc
        self.started = asyncio.Event()
        self._registered_on: RTCDtlsTransport | None = None
        self._on_sender_report = on_sender_report
        self.on_rtp = on_rtp

        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            on_rtp(packet)  # what DirectReceive did not take (none once it is installed)

        receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = self._handle_rtcp  # type: ignore[method-assign]
        receiver.receive = self._receive  # type: ignore[method-assign]
        receiver._diemcau_tap = self  # type: ignore[attr-defined]

    @classmethod
    def for_transceiver(
        cls,
        transceiver: RTCRtpTransceiver,
        on_rtp: RtpHandler,
        on_sender_report: Callable[[RtcpSrPacket], None],
    ) -> ReceiverTap:
        # Receiver reports go out under the SSRC of the transceiver's (idle) sender, as aiortc
        # itself does.
        return cls(transceiver.receiver, transceiver.sender._ssrc, on_rtp, on_sender_report)

    async def _receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self.started.is_set():
            return
        for codec in parameters.codecs:
            if codec.payloadType is None:
                continue
            if codec.mimeType.lower().endswith("/rtx"):
                apt = codec.parameters.get("apt")
                if isinstance(apt, int):
                    self.rtx_payload_types[codec.payloadType] = apt
            else:
                self.codecs[codec.payloadType] = InboundCodec(
                    codec.payloadType, codec.mimeType, codec.clockRate
                )
        for encoding in parameters.encodings:
            if encoding.rtx is not None:
                self.rtx_ssrcs[encoding.rtx.ssrc] = encoding.ssrc
        transport = self._receiver.transport
        transport._register_rtp_receiver(self._receiver, parameters)
        self._registered_on = transport
        DirectReceive.install(transport)
        self.started.set()

    async def _handle_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket):
            self._on_sender_report(packet)

    def unwrap(self, packet: RtpPacket) -> RtpPacket | None:
        """The original packet inside an RTX retransmission, or None for padding/probes."""
        apt = self.rtx_payload_types.get(packet.payload_type)
        if apt is None:
            return packet
        original_ssrc = self.rtx_ssrcs.get(packet.ssrc)
        if original_ssrc is None or len(packet.payload) <= 2:
            return None
        unwrapped: RtpPacket = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        unwrapped.extensions = packet.extensions
        return unwrapped

    async def send_pli(self, media_ssrc: int) -> None:
        await self._receiver._send_rtcp_pli(media_ssrc)

    async def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        await self._receiver._send_rtcp_nack(media_ssrc, lost)

    async def send_reports(
        self, reports: list[RtcpReceiverInfo], remb_bps: int | None, media_ssrcs: list[int]
    ) -> None:
        """Receiver reports and, when given, a REMB cap for the publisher's encoder."""
        if reports:
            await self._receiver._send_rtcp(RtcpRrPacket(ssrc=self.rtcp_ssrc, reports=reports))
        if remb_bps is not None and media_ssrcs:
            await self._receiver._send_rtcp(
                RtcpPsfbPacket(
                    fmt=RTCP_PSFB_APP,
                    ssrc=self.rtcp_ssrc,
                    media_ssrc=0,
                    fci=pack_remb_fci(remb_bps, media_ssrcs),
                )
            )

    def close(self) -> None:
        if self._registered_on is not None:
            self._registered_on._unregister_rtp_receiver(self._receiver)
            self._registered_on = None


class DirectReceive:
    """SRTP packets of a publisher's DTLS transport, handled in the ICE socket's callback:
    unprotected, parsed and routed to the tap at once. aiortc would try the datagram as STUN
    first, queue it in aioice, and read it again from the DTLS transport's task (a task switch
    and three awaits per packet). Installed once the transport is connected (its SRTP session
    exists); a packet for a receiver without a tap goes to that receiver's handler, as aiortc
    would have sent it."""

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self.handled = 0
        self._tasks: set[asyncio.Future[None]] = set()

    @classmethod
    def install(cls, dtls: RTCDtlsTransport) -> DirectReceive | None:
        installed: DirectReceive | None = getattr(dtls, "_diemcau_direct", None)
        if installed is not None or dtls._rx_srtp is None:
            return installed
        direct = cls(dtls)
        dtls._diemcau_direct = direct  # type: ignore[attr-defined]
        for protocol in dtls.transport._connection._protocols:
            direct._hook(protocol)
        return direct

    def _hook(self, protocol: Any) -> None:
        original = protocol.datagram_received
        dtls = self._dtls
        unprotect = SrtpCall(dtls._rx_srtp, protect=False)
        extensions = dtls._rtp_header_extensions_map
        router = dtls._rtp_router

        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            # SRTP (RFC 7983: first byte 128-191), not SRTCP (payload types 192-223)
            if len(data) < 12 or not 127 < data[0] < 192 or 191 < data[1] < 224:
                original(data, addr)
                return
            try:
                packet = RtpPacket.parse(unprotect(data), extensions)
            except (pylibsrtp.Error, ValueError):
                return  # as aiortc: a packet that does not authenticate or parse is dropped
            receiver = router.route_rtp(packet)
            if receiver is None:
                return  # as aiortc: nobody receives this stream
            tap: ReceiverTap | None = getattr(receiver, "_diemcau_tap", None)
            if tap is not None:
                self.handled += 1
                tap.on_rtp(packet)
            else:
                task = asyncio.ensure_future(
                    receiver._handle_rtp_packet(packet, clock.current_ms())
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        protocol.datagram_received = datagram_received


class ParkedTrack(MediaStreamTrack):
    """A track that never yields: the sender's encode loop waits on it and costs nothing."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._parked: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        await self._parked
        raise MediaStreamError

    def stop(self) -> None:
        if not self._parked.done():
            self._parked.set_result(None)
        super().stop()


@dataclass(frozen=True)
class SenderReport:
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int


class SenderTap:
    """Takes a subscriber's ``RTCRtpSender`` over: the room writes its packets.

    Install before the answer is applied; ``identity`` is known once aiortc calls ``send()``.
    """

    def __init__(
        self,
        sender: RTCRtpSender,
        kind: str,
        on_keyframe_request: Callable[[], None],
        on_nack: Callable[[list[int]], None],
        on_remb: Callable[[int], None],
        sender_report: Callable[[], SenderReport | None],
        on_loss: Callable[[float], None] | None = None,
    ) -> None:
        self._sender = sender
        self.kind = kind
        self.identity: OutboundIdentity | None = None
        # Round trip to the subscriber, from its reports on our last sender report (seconds).
        self.rtt: float | None = None
        self._last_sr: tuple[int, float] | None = None  # (middle 32 bits of its NTP, sent at)
        self._on_nack = on_nack
        self._pair: Any = None  # the nominated ICE pair last sent on, its sendto and address
        self._pair_sendto: Callable[[bytes, Any], None] = lambda data, addr: None
        self._pair_addr: Any = None
        self._protect: SrtpCall | None = None  # for the transport's SRTP session
        self.codec: RTCRtpCodecParameters | None = None
        self.ready = asyncio.Event()
        self._on_remb = on_remb
        self._on_loss = on_loss
        self._sender_report = sender_report
        self._original_send = sender.send
        self._original_rtcp = sender._handle_rtcp_packet
        self._original_send_rtcp = sender._send_rtcp
        self._parked = ParkedTrack(kind)
        sender.replaceTrack(self._parked)
        sender.send = self._send  # type: ignore[method-assign]
        sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
        sender._handle_rtcp_packet = self._handle_rtcp  # type: ignore[method-assign]
        sender._send_rtcp = self._send_rtcp  # type: ignore[method-assign]

    async def _send(self, parameters: Any) -> None:
        if self.identity is None:
            codec = parameters.codecs[0]
            rtx_pt = next(
                (
                    c.payloadType
                    for c in parameters.codecs
                    if c.mimeType.lower().endswith("/rtx")
                    and c.parameters.get("apt") == codec.payloadType
                ),
                None,
            )
            ext_ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
            self.codec = codec
            self.identity = OutboundIdentity(
                ssrc=self._sender._ssrc,
                payload_type=codec.payloadType,
                rtx_ssrc=self._sender._rtx_ssrc,
                rtx_payload_type=rtx_pt,
                mid=parameters.muxId,
                mid_ext=ext_ids.get(MID_URI),
                abs_send_time_ext=ext_ids.get(ABS_SEND_TIME_URI),
                audio_level_ext=ext_ids.get(AUDIO_LEVEL_URI),
            )
            self.ready.set()
        await self._original_send(parameters)

    async def _handle_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if self._sender._ssrc in ssrcs:
                self._on_remb(bitrate)
            return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            # Whole: a receiver's list says what it still misses, and so what it has.
            self._on_nack(list(packet.lost))
            return
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc != self._sender._ssrc:
                    continue
                if self._on_loss is not None:
                    self._on_loss(report.fraction_lost / 256)
                last = self._last_sr
                if last is not None and report.lsr == last[0] and report.dlsr:
                    rtt = time.monotonic() - last[1] - report.dlsr / 65536
                    if rtt >= 0:
                        self.rtt = rtt if self.rtt is None else 0.85 * self.rtt + 0.15 * rtt
        await self._original_rtcp(packet)

    async def _send_rtcp(self, packets: list[AnyRtcpPacket]) -> None:
        # Stock sender reports say 0 for everything: the encoder never ran. Use ours, or
        # leave the report out until the first packet went through.
        out: list[AnyRtcpPacket] = []
        for packet in packets:
            if isinstance(packet, RtcpSrPacket):
                report = self._sender_report()
                if report is None:
                    continue
                info = packet.sender_info
                info.ntp_timestamp = report.ntp_timestamp
                info.rtp_timestamp = report.rtp_timestamp
                info.packet_count = report.packet_count & 0xFFFFFFFF
                info.octet_count = report.octet_count & 0xFFFFFFFF
                self._last_sr = ((report.ntp_timestamp >> 16) & 0xFFFFFFFF, time.monotonic())
            out.append(packet)
        if out:
            await self._original_send_rtcp(out)

    def send_now(self, data: bytes) -> bool:
        """Protect and send one RTP packet at once, without yielding to the event loop.

        Returns False (packet dropped) while the transport is not connected.
        """
        dtls = self._sender.transport
        if dtls._state is not DtlsState.CONNECTED:
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            return False
        if pair is not self._pair:
            # The pair's address is a tuple made on every read: kept until ICE nominates
            # another pair.
            self._pair = pair
            self._pair_sendto = pair.protocol.transport.sendto
            self._pair_addr = pair.remote_addr
        protect = self._protect
        if protect is None or protect.session is not dtls._tx_srtp:
            protect = self._protect = SrtpCall(dtls._tx_srtp, protect=True)
        self._pair_sendto(protect(data), self._pair_addr)
        return True

    def close(self) -> None:
        self._parked.stop()


def new_statistics(clock_rate: int) -> StreamStatistics:
    return StreamStatistics(clock_rate)


def new_nack_generator() -> NackGenerator:
    return NackGenerator()


@contextmanager
def restrict_host_addresses(addresses: tuple[str, ...]) -> Iterator[None]:
    """Gather ICE host candidates only on ``addresses`` (aioice otherwise takes every
    non-loopback interface). Process-wide while the context is open."""
    if not addresses:
        yield
        return
    original = aioice.ice.get_host_addresses

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = configured
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = original


def offer_problem(sdp: str) -> str | None:
    """Why ``sdp`` cannot be a publisher's offer, or None when it can: it must be a session
    description with at least one audio or video section, each carrying ICE credentials and a
    DTLS fingerprint. aiortc's parser skips lines it does not know, so "garbage" parses to an
    empty description and would otherwise be answered."""
    if not sdp.startswith("v=0"):
        return "not a session description (it must start with v=0)"
    try:
        description = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError, AttributeError) as exc:
        return f"unreadable: {str(exc)[:160]}"
    media = [m for m in description.media if m.kind in ("audio", "video")]
    if not media:
        return "no audio or video section"
    for m in media:
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            return f"the {m.kind} section has no ICE credentials"
        if m.dtls is None or not m.dtls.fingerprints:
            return f"the {m.kind} section has no DTLS fingerprint"
    return None


def route_rtx_streams(pc: RTCPeerConnection, remote_sdp: str) -> int:
    """Route each remote RTX stream to its receiver by SSRC (for aiortc as a *subscriber*).

    aiortc registers only the media SSRC of a receiver and otherwise routes by payload type,
    which is ambiguous with two video receivers in one bundle: retransmissions would be
    dropped. Chrome reads ``a=ssrc-group:FID`` itself; this does the same for aiortc.
    """
    description = SessionDescription.parse(remote_sdp)
    routed = 0
    for media in description.media:
        transceiver = next((t for t in pc.getTransceivers() if t.mid == media.rtp.muxId), None)
        if transceiver is None:
            continue
        for group in media.ssrc_group:
            if group.semantic == "FID" and len(group.items) == 2:
                rtx_ssrc = int(group.items[1])
                router = transceiver.receiver.transport._rtp_router
                router.ssrc_table[rtx_ssrc] = transceiver.receiver
                routed += 1
    return routed
