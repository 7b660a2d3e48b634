"""One subscriber's sender of one source: rewrites packets to the sender's identity and sends.

Sequence numbers and timestamps are offset so the subscriber sees one continuous stream even
when the forwarder starts mid-stream or is moved to another source (a transceiver reused after a
participant left). Video starts, and restarts, on a keyframe. NACKs are answered from the
source's history, on RTX when negotiated; keyframe requests and REMB go to the source.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from aiortc import RTCRtpSender

from signaling.media.adapter import RtpPacket, SenderReport, SenderTap
from signaling.media.rtp import PacketWriter, rtx_writer, seq_add, seq_newer, write_rtx
from signaling.media.source import Source, ntp_now


@dataclass
class ForwarderStats:
    packets: int = 0
    octets: int = 0
    dropped_waiting: int = 0
    dropped_unconnected: int = 0
    retransmitted: int = 0
    retransmit_misses: int = 0


class Forwarder:
    def __init__(self, sender: RTCRtpSender, kind: str, source: Source) -> None:
        self.kind = kind
        self.source = source
        self.stats = ForwarderStats()
        self.remb_bps: int | None = None
        self.tap = SenderTap(
            sender,
            kind,
            on_keyframe_request=self._keyframe_request,
            on_nack=self._nack,
            on_remb=self._remb,
            sender_report=self._sender_report,
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
        self, packet: RtpPacket, keyframe: bool, abs_send_time: bytes, audio_level: int | None
    ) -> None:
        writer = self._writer
        if writer is None:
            identity = self.tap.identity
            if identity is None:
                return  # not negotiated yet
            writer = self._writer = PacketWriter(identity)
            if identity.rtx_payload_type is not None:
                self._rtx_writer = rtx_writer(identity)
        if self._waiting:
            if not keyframe:
                self.stats.dropped_waiting += 1
                return
            self._waiting = False
        if self._rebase_next:
            self._rebase(packet)
        seq = (packet.sequence_number + self._seq_offset) & 0xFFFF
        timestamp = (packet.timestamp + self._ts_offset) & 0xFFFFFFFF
        data = writer.write(
            seq, timestamp, packet.marker, packet.payload, abs_send_time, audio_level
        )
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

    def _rebase(self, packet: RtpPacket) -> None:
        self._rebase_next = False
        first_seq = seq_add(self._last_seq, 1)
        self._seq_offset = (first_seq - packet.sequence_number) & 0xFFFF
        elapsed = 0.0 if self._last_sent_at is None else time.monotonic() - self._last_sent_at
        first_ts = (self._last_ts + max(1, int(elapsed * self.source.clock_rate))) & 0xFFFFFFFF
        self._ts_offset = (first_ts - packet.timestamp) & 0xFFFFFFFF
        self._last_seq = (first_seq - 1) & 0xFFFF

    # ---- feedback from the subscriber -------------------------------------------------------

    def _keyframe_request(self) -> None:
        self.source.request_keyframe()

    def _remb(self, bitrate: int) -> None:
        self.remb_bps = bitrate

    def _nack(self, out_seq: int) -> None:
        writer = self._writer
        if writer is None:
            return
        original = self.source.packet((out_seq - self._seq_offset) & 0xFFFF)
        if original is None:
            self.stats.retransmit_misses += 1
            return
        timestamp = (original.timestamp + self._ts_offset) & 0xFFFFFFFF
        rtx = self._rtx_writer
        if rtx is not None:
            data = write_rtx(
                rtx, self._rtx_seq, out_seq, timestamp, original.marker, original.payload
            )
            self._rtx_seq = seq_add(self._rtx_seq, 1)
        else:
            data = writer.write(out_seq, timestamp, original.marker, original.payload, None, None)
        if self.tap.send_now(data):
            self.stats.retransmitted += 1

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
