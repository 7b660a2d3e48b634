"""RTP facts the forwarder needs, in plain Python: keyframe starts, sequence arithmetic and
writing a packet with another sender's identity. No aiortc internals here (see ``adapter``)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

KeyframeTest = Callable[[bytes], bool]
_HEADER = struct.Struct("!BBHII")
_SEQ = struct.Struct("!H")
ONE_BYTE_PROFILE = b"\xbe\xde"


def seq_add(seq: int, delta: int) -> int:
    return (seq + delta) & 0xFFFF


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number ``a`` comes after ``b`` (RFC 3550 wrap-around)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


def vp8_keyframe_start(payload: bytes) -> bool:
    """Does this VP8 RTP payload start a keyframe? (RFC 7741 descriptor, then the P bit.)"""
    if not payload:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # S bit unset, or a partition other than 0
        return False
    pos = 1
    if first & 0x80:  # X: extension byte follows
        if len(payload) < 2:
            return False
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            pos += 1
    if len(payload) <= pos:
        return False
    return not payload[pos] & 0x01  # P bit 0: keyframe


def h264_keyframe_start(payload: bytes) -> bool:
    """Does this H.264 RTP payload (RFC 6184) start an IDR picture or carry its SPS?"""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (5, 7):
        return True
    if nal_type == 24:  # STAP-A: 2-byte sizes, then NAL units
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if pos + 2 < len(payload) and payload[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal_type == 28 and len(payload) > 1:  # FU-A: start bit and inner type
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (5, 7)
    return False


def keyframe_detector(mime_type: str) -> KeyframeTest | None:
    name = mime_type.lower()
    if name == "video/vp8":
        return vp8_keyframe_start
    if name == "video/h264":
        return h264_keyframe_start
    return None


def one_byte_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """An RFC 8285 one-byte header extension block (empty when there is nothing to send)."""
    return extension_block(elements)[0]


def extension_block(elements: list[tuple[int, bytes]]) -> tuple[bytes, list[int]]:
    """An RFC 8285 one-byte header extension block and, for each element, the offset of its
    value in the block: where a writer patches a value that changes per packet. The offsets
    come from the construction, never from searching the bytes (a value byte can equal an
    element header: mid "2" is 0x32, the header of a 3-byte element with id 3)."""
    if not elements:
        return b"", []
    body = bytearray()
    offsets: list[int] = []
    for ext_id, value in elements:
        if not 1 <= ext_id <= 14 or not 1 <= len(value) <= 16:
            raise ValueError(f"not a one-byte header extension element: id {ext_id}")
        body.append((ext_id << 4) | (len(value) - 1))
        offsets.append(len(ONE_BYTE_PROFILE) + 2 + len(body))
        body += value
    body += b"\x00" * (-len(body) % 4)
    return ONE_BYTE_PROFILE + struct.pack("!H", len(body) // 4) + bytes(body), offsets


@dataclass(frozen=True)
class OutboundIdentity:
    """What a subscriber's sender negotiated: the packet identity the forwarder writes."""

    ssrc: int
    payload_type: int
    rtx_ssrc: int
    rtx_payload_type: int | None
    mid: str | None
    mid_ext: int | None
    abs_send_time_ext: int | None
    audio_level_ext: int | None


class PacketWriter:
    """Writes packets as one subscriber's sender. The extension block is precomputed: per
    packet only the 3-byte send time (video) or the 1-byte audio level changes."""

    def __init__(self, identity: OutboundIdentity) -> None:
        self.identity = identity
        mid: list[tuple[int, bytes]] = []
        if identity.mid_ext and identity.mid:
            mid = [(identity.mid_ext, identity.mid.encode())]
        self._plain = one_byte_extensions(mid)
        self._abs_head = b""
        self._abs_tail = b""
        if identity.abs_send_time_ext:
            sample, offsets = extension_block([*mid, (identity.abs_send_time_ext, b"\0\0\0")])
            offset = offsets[-1]
            self._abs_head, self._abs_tail = sample[:offset], sample[offset + 3 :]
        self._levels: list[bytes] = []
        if identity.audio_level_ext:
            self._levels = [
                one_byte_extensions([*mid, (identity.audio_level_ext, bytes([value]))])
                for value in range(256)
            ]
        self._first_byte = 0x90 if self._plain or self._abs_head or self._levels else 0x80
        self._pt = identity.payload_type
        self._ssrc = identity.ssrc

    def write(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        abs_send_time: bytes | None,
        audio_level: int | None,
    ) -> bytes:
        if abs_send_time is not None and self._abs_head:
            extensions = self._abs_head + abs_send_time + self._abs_tail
        elif audio_level is not None and self._levels:
            extensions = self._levels[audio_level]
        else:
            extensions = self._plain
        first = self._first_byte if extensions else 0x80
        header = _HEADER.pack(first, (marker << 7) | self._pt, seq, timestamp, self._ssrc)
        return header + extensions + payload


def rtx_writer(identity: OutboundIdentity) -> PacketWriter:
    """A writer for the RFC 4588 retransmission stream paired with ``identity``."""
    assert identity.rtx_payload_type is not None
    return PacketWriter(
        OutboundIdentity(
            ssrc=identity.rtx_ssrc,
            payload_type=identity.rtx_payload_type,
            rtx_ssrc=identity.rtx_ssrc,
            rtx_payload_type=None,
            mid=identity.mid,
            mid_ext=identity.mid_ext,
            abs_send_time_ext=None,
            audio_level_ext=None,
        )
    )


def write_rtx(
    rtx: PacketWriter, rtx_seq: int, original_seq: int, timestamp: int, marker: int, payload: bytes
) -> bytes:
    """A retransmission of ``original_seq``: its sequence number, then the original payload."""
    return rtx.write(rtx_seq, timestamp, marker, _SEQ.pack(original_seq) + payload, None, None)
