"""One subscriber's sender of one source: rewrites packets to the sender's identity and sends.

Sequence numbers and timestamps are offset so the subscriber sees one continuous stream even
when the forwarder starts mid-stream or is moved to another source (a transceiver reused after a
participant left). Video starts, and restarts, on a keyframe. NACKs are answered from the
source's history, on RTX when negotiated; keyframe requests go to the source. A layered source's
frames pass this subscriber's ``LayerFilter``, steered by its own REMB (``signaling.media.layers``).

A VP8 packet that cannot be repaired (not in the history, retransmitted as often as allowed, or
still missing a moment after it was first reported) is answered with a *filler*: a two-byte
packet with its number and timestamp. A receiver whose jitter buffer waits for every number
(aiortc's does, for 512 packets: 13 s of a weak link's video) then decodes one broken frame and
asks for a keyframe; a browser takes it as a loss. The filler itself asks for none: one sent for
a packet that had arrived after all is dropped by the receiver, and costs no keyframe (asking
on every filler tripled the keyframes on the weak link, each a burst it could not carry).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCRtpSender

from signaling.media.adapter import RtpPacket, SenderReport, SenderTap
from signaling.media.layers import LayerFilter
from signaling.media.rtp import PacketWriter, rtx_writer, seq_add, seq_newer, write_rtx
from signaling.media.source import HISTORY, Source, abs_send_time_now, ntp_now
from signaling.media.vp8 import Vp8Layer, read_layer, with_picture_id

RESEND_INTERVAL = 0.1  # seconds before the same packet is retransmitted again
RESEND_TIMES = 3  # and at most this often
# Retransmissions to one subscriber take at most this share of its estimate (at least the
# floor), with a quarter second's worth as burst: repairs must not bury the stream they repair.
RESEND_SHARE = 0.25
RESEND_FLOOR_BPS = 100_000
# A number reported missing is filled this long after the first report unless a later report
# shows it arrived, or once this many later packets went out (aiortc's jitter buffer starts over
# on a packet 100 or more behind its start). The filler goes after the retransmissions on the
# same path, so it never overtakes one: a receiver that got the packet drops the filler.
FILL_AFTER = 0.25
FILL_AFTER_PACKETS = 64
FILL_TOO_LATE_PACKETS = 96
# A VP8 payload descriptor (no start of a partition) and one byte no decoder takes for a frame.
# Never an empty payload: an empty frame makes FFmpeg's decoder flush, and it decodes nothing
# after that.
FILLER_PAYLOAD = b"\x00\x01"
# aiortc's NACK lists cover every number missing within this many of its newest.
NACK_WINDOW = 128

# What a subscriber is told when its link carries no video of a source, or again some.
LayerEvent = Callable[["Forwarder", str], None]


@dataclass
class ForwarderStats:
    packets: int = 0
    octets: int = 0
    dropped_waiting: int = 0
    dropped_unconnected: int = 0
    retransmitted: int = 0
    retransmit_misses: int = 0
    retransmit_suppressed: int = 0  # asked again too soon, or too often
    dropped_layers: int = 0  # packets of temporal layers this subscriber's link does not carry
    fillers: int = 0  # packets that could not be repaired, answered with a filler


# What was sent under one number: its own number (the ring wraps), the source and the source's
# number, the picture-id shift, the timestamp and marker it went out with.
Sent = tuple[int, Source, int, int, int, int]


class Forwarder:
    def __init__(
        self,
        sender: RTCRtpSender,
        kind: str,
        source: Source,
        on_layer_event: LayerEvent | None = None,
    ) -> None:
        self.kind = kind
        self.source = source
        self.stats = ForwarderStats()
        self.remb_bps: int | None = None
        self.loss: float | None = None  # the fraction lost in the subscriber's last report
        self.layers = LayerFilter() if kind == "video" else None
        self._on_layer_event = on_layer_event
        # Video: what went out under each number, to repair it after renumbering (layers) or a
        # change of source, or to fill it.
        self._sent: list[Sent | None] = [None] * HISTORY
        # Numbers reported missing and not known to have arrived since: when first reported.
        self._missing: dict[int, float] = {}
        self._fills = kind == "video"  # what it sends is kept in _sent, and can be filled
        # When each sent number was last retransmitted, and how often: a receiver repeats its
        # whole list of missing packets in every NACK, and answering all of it each time
        # floods a link that is already losing packets.
        self._resent: list[tuple[int, float, int] | None] = [None] * HISTORY
        self._resend_budget = 0.0  # bytes
        self._resend_refilled = time.monotonic()
        self.tap = SenderTap(
            sender,
            kind,
            on_keyframe_request=self._keyframe_request,
            on_nack=self._nack,
            on_remb=self._remb,
            sender_report=self._sender_report,
            on_loss=self._loss,
        )
        self._writer: PacketWriter | None = None
        self._rtx_writer: PacketWriter | None = None  # when RTX was negotiated
        self._waiting = kind == "video"
        self._rebase_next = True
        self._seq_offset = 0
        self._ts_offset = 0
        self._last_seq = random.randrange(0, 0x8000)
        self._last_ts = random.randrange(0, 1 << 32)
        self._last_sent_at: float | None = None
        self._rtx_seq = random.randrange(0, 0x8000)

    @property
    def mid(self) -> str | None:
        identity = self.tap.identity
        return identity.mid if identity else None

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting

    def bind(self, source: Source) -> None:
        """Forward another source once attached, continuing this sender's numbering."""
        if source is self.source:
            return
        self.detach()
        self.source = source
        self._waiting = self.kind == "video"
        self._rebase_next = True
        if self.kind == "video":
            self.layers = LayerFilter()

    def attach(self) -> None:
        if self not in self.source.sinks:
            self.source.sinks.append(self)
        if self._waiting:
            self.source.request_keyframe()

    def detach(self) -> None:
        if self in self.source.sinks:
            self.source.sinks.remove(self)

    # ---- hot path ----------------------------------------------------------------------

    def deliver(
        self,
        packet: RtpPacket,
        keyframe: bool,
        abs_send_time: bytes,
        audio_level: int | None,
        layer: Vp8Layer | None,
    ) -> None:
        writer = self._writer
        if writer is None:
            identity = self.tap.identity
            if identity is None:
                return  # not negotiated yet
            writer = self._writer = PacketWriter(identity)
            if identity.rtx_payload_type is not None:
                self._rtx_writer = rtx_writer(identity)
        if self._missing:
            self._fill_due(time.monotonic())
        payload = packet.payload
        in_seq = packet.sequence_number
        layers = self.layers
        picture_id_delta = 0
        if layer is not None and layers is not None:
            decision = layers.decide(in_seq, packet.timestamp, layer, keyframe)
            if not decision.forward:
                self.stats.dropped_layers += 1
                return
            in_seq = (in_seq - decision.seq_delta) & 0xFFFF
            picture_id_delta = decision.picture_id_delta
        if self._waiting:
            if not keyframe:
                self.stats.dropped_waiting += 1
                return
            self._waiting = False
            # Continue this sender's numbering from here: what was left out while waiting
            # must not read as a gap (lost packets, NACKs, a loss report) to the subscriber.
            self._rebase_next = True
        if self._rebase_next:
            self._rebase(in_seq, packet.timestamp)
        seq = (in_seq + self._seq_offset) & 0xFFFF
        if layer is not None and picture_id_delta:
            payload = _renumbered(payload, layer, picture_id_delta)
        timestamp = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
        if self._fills:
            self._sent[seq % HISTORY] = (
                seq,
                self.source,
                packet.sequence_number,
                picture_id_delta,
                timestamp,
                packet.marker,
            )
        data = writer.write(seq, timestamp, packet.marker, payload, abs_send_time, audio_level)
        if self.tap.send_now(data):
            stats = self.stats
            stats.packets += 1
            stats.octets += len(packet.payload)
            if seq_newer(seq, self._last_seq):
                self._last_seq = seq
            self._last_ts = timestamp
            self._last_sent_at = time.monotonic()
        else:
            self.stats.dropped_unconnected += 1

    def _rebase(self, sequence_number: int, timestamp: int) -> None:
        self._rebase_next = False
        first_seq = seq_add(self._last_seq, 1)
        self._seq_offset = (first_seq - sequence_number) & 0xFFFF
        elapsed = 0.0 if self._last_sent_at is None else time.monotonic() - self._last_sent_at
        first_ts = (self._last_ts + max(1, int(elapsed * self.source.clock_rate))) & 0xFFFFFFFF
        self._ts_offset = (first_ts - timestamp) & 0xFFFFFFFF
        self._last_seq = (first_seq - 1) & 0xFFFF

    # ---- feedback from the subscriber -------------------------------------------------------

    def _keyframe_request(self) -> None:
        self.source.request_keyframe()

    def _remb(self, bitrate: int) -> None:
        self.remb_bps = bitrate

    def _loss(self, fraction: float) -> None:
        self.loss = fraction

    def adapt(self) -> None:
        """Once a second on a layered source: steer this subscriber's layer by its estimate and
        its losses."""
        layers = self.layers
        if layers is None or self.remb_bps is None:
            return
        event = layers.steer(self.remb_bps, self.source.layer_rates(), time.monotonic(), self.loss)
        if event in ("resumed", "repair"):
            self._waiting = True
            self.source.request_keyframe()
        if event in ("paused", "resumed") and self._on_layer_event is not None:
            self._on_layer_event(self, event)

    def _nack(self, lost: list[int]) -> None:
        if self._writer is None or not lost:
            return
        now = time.monotonic()
        if self._missing:
            self._arrived(lost)
        for out_seq in lost:
            self._repair(out_seq, now)

    def _arrived(self, lost: list[int]) -> None:
        """Forget the numbers a receiver's list no longer has: they arrived. (A browser's list
        holds only what it asks for now; what it leaves out it asks for again, or gives up on.)"""
        newest = lost[0]
        for seq in lost:
            if seq_newer(seq, newest):
                newest = seq
        still = set(lost)
        for seq in [s for s in self._missing if s not in still]:
            if ((newest - seq) & 0xFFFF) < NACK_WINDOW:
                del self._missing[seq]

    def _repair(self, out_seq: int, now: float) -> None:
        """Answer one number of a NACK: retransmit it, leave it for later, or fill it."""
        sent = self._sent[out_seq % HISTORY] if self._fills else None
        if sent is not None and sent[0] != out_seq:
            self.stats.retransmit_misses += 1  # sent too long ago: its slot holds a later one
            return
        resent = self._resent[out_seq % HISTORY]
        if resent is not None and resent[0] == out_seq:
            _, at, times = resent
            if now - at < RESEND_INTERVAL:
                self.stats.retransmit_suppressed += 1
                return
            if times >= RESEND_TIMES:
                if sent is not None:
                    self._fill(sent, now)
                else:
                    self.stats.retransmit_suppressed += 1
                return
            self._resent[out_seq % HISTORY] = (out_seq, now, times + 1)
        else:
            self._resent[out_seq % HISTORY] = (out_seq, now, 1)
            if sent is not None:
                self._missing.setdefault(out_seq, now)
        if not self._retransmit(out_seq, sent, now):
            self._resent[out_seq % HISTORY] = None  # not sent: a later report may try again

    def _retransmit(self, out_seq: int, sent: Sent | None, now: float) -> bool:
        if sent is not None:
            _, source, source_seq, picture_id_delta, timestamp, _ = sent
            original = source.packet(source_seq) if source is self.source else None
        else:  # audio: numbered as the source's, shifted
            source_seq = (out_seq - self._seq_offset) & 0xFFFF
            picture_id_delta = 0
            original = self.source.packet(source_seq)
            timestamp = 0 if original is None else (original.timestamp + self._ts_offset)
        if original is None:
            self.stats.retransmit_misses += 1
            return False
        rate = max(RESEND_FLOOR_BPS, (self.remb_bps or 0) * RESEND_SHARE) / 8
        self._resend_budget = min(
            rate / 4, self._resend_budget + (now - self._resend_refilled) * rate
        )
        self._resend_refilled = now
        if self._resend_budget < len(original.payload):
            self.stats.retransmit_suppressed += 1
            return False
        self._resend_budget -= len(original.payload)
        payload = original.payload
        if picture_id_delta:
            layer = read_layer(payload)
            if layer is not None:
                payload = _renumbered(payload, layer, picture_id_delta)
        timestamp &= 0xFFFFFFFF
        writer = self._writer
        assert writer is not None
        rtx = self._rtx_writer
        if rtx is not None:
            data = write_rtx(rtx, self._rtx_seq, out_seq, timestamp, original.marker, payload)
            self._rtx_seq = seq_add(self._rtx_seq, 1)
        else:
            data = writer.write(out_seq, timestamp, original.marker, payload, None, None)
        if self.tap.send_now(data):
            self.stats.retransmitted += 1
        return True

    def _fill_due(self, now: float) -> None:
        """Fill the numbers still missing that are due: a last retransmission when there was
        none yet and the source has the packet now, else a filler."""
        last = self._last_seq
        for seq, first in list(self._missing.items()):
            behind = (last - seq) & 0xFFFF
            if behind >= 0x8000 or behind >= FILL_TOO_LATE_PACKETS:
                del self._missing[seq]  # a filler now would throw the receiver's buffer away
                continue
            if now - first < FILL_AFTER and behind < FILL_AFTER_PACKETS:
                continue
            sent = self._sent[seq % HISTORY]
            if sent is None or sent[0] != seq:
                del self._missing[seq]
                continue
            resent = self._resent[seq % HISTORY]
            if (resent is None or resent[0] != seq) and self._retransmit(seq, sent, now):
                self._resent[seq % HISTORY] = (seq, now, 1)
                self._missing[seq] = now  # one more wait for this one
                continue
            self._fill(sent, now)

    def _fill(self, sent: Sent, now: float) -> None:
        """Give up on a number: send a filler in its place."""
        seq, source, _, _, timestamp, marker = sent
        self._missing.pop(seq, None)
        self._resent[seq % HISTORY] = (seq, now, RESEND_TIMES)
        writer = self._writer
        if writer is None or not source.vp8:  # the filler is a VP8 payload
            return
        data = writer.write(seq, timestamp, marker, FILLER_PAYLOAD, abs_send_time_now(), None)
        if self.tap.send_now(data):
            self.stats.fillers += 1

    def _sender_report(self) -> SenderReport | None:
        if self.stats.packets == 0:
            return None
        now = self.source.rtp_now()
        if now is not None:
            ntp, rtp = now
            rtp = (rtp + self._ts_offset) & 0xFFFFFFFF
        else:
            # No report from the publisher yet: extrapolate from the last packet sent.
            assert self._last_sent_at is not None
            ntp = ntp_now()
            elapsed = time.monotonic() - self._last_sent_at
            rtp = (self._last_ts + int(elapsed * self.source.clock_rate)) & 0xFFFFFFFF
        return SenderReport(ntp, rtp, self.stats.packets, self.stats.octets)

    def close(self) -> None:
        self.detach()
        self.tap.close()


def _renumbered(payload: bytes, layer: Vp8Layer, picture_id_delta: int) -> bytes:
    picture_id = layer.picture_id(payload)
    if picture_id is None:
        return payload
    return with_picture_id(payload, layer, picture_id - picture_id_delta)
