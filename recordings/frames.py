"""Encoded frames from forwarded RTP packets: the recorder's own copy, never the senders'.

VP8 frames are reassembled from their packets (descriptor stripped, RFC 7741); a frame with a
missing packet is dropped, and video then waits for the next keyframe rather than writing
corrupt pictures. Opus packets are frames as they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Frame:
    data: bytes
    timestamp: int  # RTP timestamp (codec clock)
    keyframe: bool


def vp8_payload(payload: bytes) -> tuple[bool, bytes] | None:
    """(starts a partition 0, VP8 data) from one RTP payload, or None if malformed."""
    if not payload:
        return None
    first = payload[0]
    pos = 1
    if first & 0x80:
        if len(payload) < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:
            if len(payload) <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:
            pos += 1
        if ext & 0x30:
            pos += 1
    if len(payload) < pos:
        return None
    return bool(first & 0x10) and not first & 0x07, payload[pos:]


def vp8_size(keyframe: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 §9.1)."""
    if len(keyframe) < 10 or keyframe[0] & 0x01 or keyframe[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(keyframe[6:8], "little") & 0x3FFF
    height = int.from_bytes(keyframe[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class Vp8Assembler:
    """Collects packets of one VP8 stream into frames."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._timestamp: int | None = None
        self._expected_seq: int | None = None
        self._broken = False
        self._need_keyframe = True
        self.dropped_frames = 0

    def push(self, seq: int, timestamp: int, marker: int, payload: bytes) -> Frame | None:
        parsed = vp8_payload(payload)
        if parsed is None:
            self._broken = True
            return None
        starts, data = parsed
        if timestamp != self._timestamp:
            if self._parts:
                self.dropped_frames += 1  # the previous frame never got its last packet
            self._parts, self._timestamp, self._broken = [], timestamp, not starts
        elif self._expected_seq is not None and seq != self._expected_seq:
            self._broken = True
        self._expected_seq = (seq + 1) & 0xFFFF
        self._parts.append(data)
        if not marker:
            return None
        frame_data = b"".join(self._parts)
        self._parts = []
        if self._broken or not frame_data:
            self.dropped_frames += 1
            self._need_keyframe = True
            return None
        keyframe = not frame_data[0] & 0x01
        if self._need_keyframe and not keyframe:
            self.dropped_frames += 1
            return None
        self._need_keyframe = False
        return Frame(frame_data, timestamp, keyframe)

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._need_keyframe
