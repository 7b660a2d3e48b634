"""Packet-level helpers: keyframe detection and writing packets as another sender."""

from __future__ import annotations

import fractions

import av
import pytest
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from bench.client import encode_vp8
from signaling.media.rtp import (
    OutboundIdentity,
    PacketWriter,
    h264_keyframe_start,
    one_byte_extensions,
    rtx_writer,
    seq_newer,
    vp8_keyframe_start,
    write_rtx,
)


def vp8_payloads(count: int) -> list[tuple[bool, list[bytes]]]:
    """(is keyframe, RTP payloads) for real VP8 frames packetized by aiortc."""
    packets = encode_vp8(320, 240, count)
    encoder = Vp8Encoder()
    out = []
    for i, packet in enumerate(packets):
        packet.pts = i * 3000
        packet.time_base = fractions.Fraction(1, 90000)
        payloads, _ = encoder.pack(packet)
        out.append((packet.is_keyframe, payloads))
    return out


def test_vp8_keyframes_are_found_in_real_payloads() -> None:
    frames = vp8_payloads(70)
    assert frames[0][0], "the encoder starts with a keyframe"
    for is_key, payloads in frames:
        assert vp8_keyframe_start(payloads[0]) is is_key
        assert not any(vp8_keyframe_start(p) for p in payloads[1:])  # only the first packet
    assert sum(1 for k, _ in frames if k) >= 2  # one every two seconds


@pytest.mark.parametrize("payload", [b"", b"\x90", b"\x90\x80", b"\x10", b"\x11\x00"])
def test_vp8_truncated_or_other_partitions(payload: bytes) -> None:
    assert not vp8_keyframe_start(payload)


def test_h264_keyframes() -> None:
    assert h264_keyframe_start(bytes([0x65, 0x88]))  # IDR slice
    assert h264_keyframe_start(bytes([0x67, 0x42]))  # SPS
    assert not h264_keyframe_start(bytes([0x41, 0x9A]))  # non-IDR slice
    stap = bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE])
    assert h264_keyframe_start(stap)
    assert h264_keyframe_start(bytes([0x7C, 0x85, 0x00]))  # FU-A start of IDR
    assert not h264_keyframe_start(bytes([0x7C, 0x05, 0x00]))  # FU-A continuation


def test_sequence_wraparound() -> None:
    assert seq_newer(1, 0)
    assert seq_newer(0, 65535)
    assert not seq_newer(65535, 0)
    assert not seq_newer(5, 5)


def ext_map(*pairs: tuple[int, str]) -> HeaderExtensionsMap:
    mapping = HeaderExtensionsMap()
    mapping.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for i, u in pairs]
        )
    )
    return mapping


MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def test_written_video_packet_parses_back() -> None:
    identity = OutboundIdentity(
        ssrc=0x01020304,
        payload_type=97,
        rtx_ssrc=0x0A0B0C0D,
        rtx_payload_type=98,
        mid="3",
        mid_ext=1,
        abs_send_time_ext=3,
        audio_level_ext=None,
    )
    data = PacketWriter(identity).write(65535, 0xFFFFFFFF, 1, b"payload", b"\x01\x02\x03", None)
    packet = RtpPacket.parse(data, ext_map((1, MID), (3, ABS)))
    assert (packet.ssrc, packet.payload_type, packet.sequence_number) == (0x01020304, 97, 65535)
    assert (packet.timestamp, packet.marker, packet.payload) == (0xFFFFFFFF, 1, b"payload")
    assert packet.extensions.mid == "3"
    assert packet.extensions.abs_send_time == 0x010203
    # The same bytes aiortc itself would write.
    reference = RtpPacket(
        payload_type=97,
        marker=1,
        sequence_number=65535,
        timestamp=0xFFFFFFFF,
        ssrc=0x01020304,
        payload=b"payload",
    )
    reference.extensions.mid = "3"
    reference.extensions.abs_send_time = 0x010203
    assert data == reference.serialize(ext_map((1, MID), (3, ABS)))


@pytest.mark.parametrize("mid", [str(n) for n in range(24)])
@pytest.mark.parametrize(("mid_ext", "abs_ext"), [(1, 3), (3, 2), (9, 4), (4, 9)])
def test_send_time_never_overwrites_another_element(mid: str, mid_ext: int, abs_ext: int) -> None:
    """The send time is patched at the offset the block was built with: a mid whose bytes look
    like the send-time element's header ("2" is 0x32 = id 3, 3 bytes) must not move it."""
    identity = OutboundIdentity(
        ssrc=5,
        payload_type=97,
        rtx_ssrc=6,
        rtx_payload_type=98,
        mid=mid,
        mid_ext=mid_ext,
        abs_send_time_ext=abs_ext,
        audio_level_ext=None,
    )
    writer = PacketWriter(identity)
    mapping = ext_map((mid_ext, MID), (abs_ext, ABS))
    for send_time in (b"\xaa\xbb\xcc", b"\x32\x32\x32", b"\xff\xff\xff", b"\x00\x00\x01"):
        data = writer.write(9, 90, 0, b"vp8", send_time, None)
        packet = RtpPacket.parse(data, mapping)
        assert packet.extensions.mid == mid
        assert packet.extensions.abs_send_time == int.from_bytes(send_time, "big")
        reference = RtpPacket(payload_type=97, sequence_number=9, timestamp=90, ssrc=5)
        reference.payload = b"vp8"
        reference.extensions.mid = mid
        reference.extensions.abs_send_time = int.from_bytes(send_time, "big")
        assert data == reference.serialize(mapping)


def test_written_audio_packet_keeps_the_level() -> None:
    identity = OutboundIdentity(
        ssrc=7,
        payload_type=96,
        rtx_ssrc=8,
        rtx_payload_type=None,
        mid="0",
        mid_ext=1,
        abs_send_time_ext=None,
        audio_level_ext=2,
    )
    writer = PacketWriter(identity)
    packet = RtpPacket.parse(
        writer.write(1, 2, 0, b"opus", None, 0x80 | 30), ext_map((1, MID), (2, LEVEL))
    )
    assert packet.extensions.audio_level == (True, 30)
    silent = RtpPacket.parse(
        writer.write(2, 3, 0, b"opus", None, None), ext_map((1, MID), (2, LEVEL))
    )
    assert silent.extensions.audio_level is None
    assert silent.extensions.mid == "0"


def test_rtx_carries_the_original_sequence_number() -> None:
    identity = OutboundIdentity(
        ssrc=1,
        payload_type=97,
        rtx_ssrc=2,
        rtx_payload_type=98,
        mid="1",
        mid_ext=1,
        abs_send_time_ext=3,
        audio_level_ext=None,
    )
    data = write_rtx(rtx_writer(identity), 10, 4242, 900, 1, b"data")
    packet = RtpPacket.parse(data, ext_map((1, MID)))
    assert (packet.ssrc, packet.payload_type, packet.sequence_number) == (2, 98, 10)
    assert packet.payload == b"\x10\x92data"


def test_extension_block_padding() -> None:
    block = one_byte_extensions([(1, b"12345")])
    assert block[:2] == b"\xbe\xde"
    assert len(block) % 4 == 0
    assert one_byte_extensions([]) == b""


def test_encode_vp8_is_real_vp8() -> None:
    packets = encode_vp8(160, 120, 3)
    decoder = av.CodecContext.create("libvpx", "r")
    frames = [f for p in packets for f in decoder.decode(p)]
    assert len(frames) == 3
    assert (frames[0].width, frames[0].height) == (160, 120)
