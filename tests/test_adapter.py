"""Contract tests for the one module that relies on aiortc/aioice internals: if an upgrade
moves what it hooks, these fail and say where."""

from __future__ import annotations

import aioice.ice
import pylibsrtp
import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from signaling.media import adapter


@pytest.mark.parametrize("index", range(len(adapter._REQUIRED)))
def test_a_missing_internal_is_named(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import-time check, as an aiortc upgrade that moved one internal would meet it (the
    installed aiortc passes it, or this module could not be imported)."""
    owner, name = adapter._REQUIRED[index]
    monkeypatch.delattr(owner, name)
    missing = adapter.check_internals()
    assert missing == [f"{getattr(owner, '__name__', type(owner).__name__)}.{name}"]


def test_srtp_calls_give_pylibsrtps_bytes_and_refuse_what_it_refuses() -> None:
    """The lean protect/unprotect on the forwarding path: byte for byte what pylibsrtp makes, a
    forged or replayed packet refused as pylibsrtp refuses it, a session usable either way after."""
    key = bytes(range(30))
    ours = adapter.SrtpCall(
        pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)),
        protect=True,
    )
    theirs = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    receiving = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    )
    unprotect = adapter.SrtpCall(receiving, protect=False)
    for seq in (1, 2, 3):
        plain = RtpPacket(payload_type=96, sequence_number=seq, ssrc=1234, payload=b"x" * 900)
        data = plain.serialize()
        protected = ours(data)
        assert protected == theirs.protect(data)
        assert len(protected) > len(data)  # the authentication tag
        assert unprotect(protected) == data
    with pytest.raises(pylibsrtp.Error):
        unprotect(protected)  # a replay
    forged = bytearray(ours(RtpPacket(payload_type=96, sequence_number=4, ssrc=1234).serialize()))
    forged[-1] ^= 1
    with pytest.raises(pylibsrtp.Error):
        unprotect(bytes(forged))
    with pytest.raises(ValueError, match="too long"):
        ours(b"\x80" * 1500)
    five = RtpPacket(payload_type=96, sequence_number=5, ssrc=1234, payload=b"y").serialize()
    assert receiving.unprotect(ours(five)) == five  # pylibsrtp's own call on the same buffer


async def test_taps_replace_decoding_and_encoding() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendrecv")
        received: list[RtpPacket] = []

        def on_rtp(packet: RtpPacket) -> None:
            received.append(packet)

        tap = adapter.ReceiverTap.for_transceiver(transceiver, on_rtp, lambda sr: None)
        # What reaches the receiver through aiortc goes to the tap, undecoded.
        await transceiver.receiver._handle_rtp_packet(RtpPacket(sequence_number=7), 0)
        assert [p.sequence_number for p in received] == [7]
        sender_tap = adapter.SenderTap(
            transceiver.sender,
            "video",
            lambda: None,
            lambda seq: None,
            lambda bps: None,
            lambda: None,
        )
        assert isinstance(transceiver.sender.track, adapter.ParkedTrack)
        # Before negotiation there is nothing to send on.
        assert sender_tap.send_now(b"\x80" * 12) is False
        assert sender_tap.identity is None
        tap.close()
        sender_tap.close()
    finally:
        await pc.close()


def test_host_addresses_are_restricted_and_restored() -> None:
    original = aioice.ice.get_host_addresses
    with adapter.restrict_host_addresses(("127.0.0.1", "::1")):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1"]
    assert aioice.ice.get_host_addresses is original
    with adapter.restrict_host_addresses(()):
        assert aioice.ice.get_host_addresses is original


def test_version_pin_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiortc

    monkeypatch.setattr(aiortc, "__version__", "2.0.0")
    assert any("aiortc 2.0.0" in m for m in adapter.check_internals())


async def test_a_receiver_report_tells_the_sender_tap_its_loss() -> None:
    """The layer steering reads the fraction a subscriber reports lost, from aiortc's own
    receiver-report packets, for this sender's stream only."""
    from aiortc.rtp import RtcpReceiverInfo, RtcpRrPacket

    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        losses: list[float] = []
        tap = adapter.SenderTap(
            transceiver.sender,
            "video",
            lambda: None,
            lambda seq: None,
            lambda bps: None,
            lambda: None,
            on_loss=losses.append,
        )
        ssrc = transceiver.sender._ssrc

        def report(for_ssrc: int, fraction: int) -> RtcpRrPacket:
            info = RtcpReceiverInfo(
                ssrc=for_ssrc,
                fraction_lost=fraction,
                packets_lost=0,
                highest_sequence=0,
                jitter=0,
                lsr=0,
                dlsr=0,
            )
            return RtcpRrPacket(ssrc=1, reports=[info])

        await tap._handle_rtcp(report(ssrc, 64))
        await tap._handle_rtcp(report(ssrc + 1, 255))  # someone else's stream
        assert losses == [0.25]
        tap.close()
    finally:
        await pc.close()
