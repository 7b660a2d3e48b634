"""The VP8 payload descriptor (RFC 7741 §4.2) as far as choosing temporal layers needs it.

A publisher encoding with temporal layers (a browser asked for ``scalabilityMode: "L1T3"``)
marks each packet with its layer (TID), whether the frame depends only on the base layer
(Y, "layer sync") and a picture id. A forwarder that leaves out the upper layers for one
subscriber keeps that subscriber's picture ids continuous, so its decoder sees a stream with no
missing frame.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vp8Layer:
    """What one packet's descriptor says about its frame's place among the layers."""

    tid: int  # temporal layer, 0 the base
    sync: bool  # the frame depends on the base layer only: a subscriber may climb to ``tid`` here
    start: bool  # the first packet of a frame
    picture_id_at: int  # offset of the picture id in the payload; -1 when there is none
    picture_id_bits: int  # 7 or 15

    def picture_id(self, payload: bytes) -> int | None:
        at = self.picture_id_at
        if at < 0:
            return None
        if self.picture_id_bits == 15:
            return ((payload[at] & 0x7F) << 8) | payload[at + 1]
        return payload[at] & 0x7F


def read_layer(payload: bytes) -> Vp8Layer | None:
    """The layer information of one VP8 payload; None when it carries none (no T bit) or is
    too short to hold what its flags announce."""
    size = len(payload)
    if size < 2:
        return None
    first = payload[0]
    if not first & 0x80:  # X: no extension byte, so no TID
        return None
    flags = payload[1]
    if not flags & 0x20:  # T: no temporal layer index
        return None
    pos = 2
    picture_id_at = -1
    bits = 7
    if flags & 0x80:  # I: a picture id follows
        picture_id_at = pos
        if pos >= size:
            return None
        if payload[pos] & 0x80:  # M: 15 bits
            bits = 15
            pos += 2
        else:
            pos += 1
    if flags & 0x40:  # L: TL0PICIDX
        pos += 1
    if pos >= size:
        return None
    tk = payload[pos]
    start = bool(first & 0x10) and (first & 0x07) == 0
    return Vp8Layer(
        tid=(tk >> 6) & 0x03,
        sync=bool(tk & 0x20),
        start=start,
        picture_id_at=picture_id_at,
        picture_id_bits=bits,
    )


def with_picture_id(payload: bytes, layer: Vp8Layer, picture_id: int) -> bytes:
    """The payload with its picture id replaced, in the width it had."""
    at = layer.picture_id_at
    if at < 0:
        return payload
    if layer.picture_id_bits == 15:
        value = 0x8000 | (picture_id & 0x7FFF)
        return payload[:at] + value.to_bytes(2, "big") + payload[at + 2 :]
    return payload[:at] + bytes((picture_id & 0x7F,)) + payload[at + 1 :]
