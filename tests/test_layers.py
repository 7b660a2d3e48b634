"""Temporal layers per subscriber: the VP8 descriptor as aiortc writes it, the filter that leaves
layers out for one subscriber, and the steering by that subscriber's estimate."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiortc.codecs.vpx import VpxPayloadDescriptor

from signaling.media.layers import (
    PROBE_WAIT,
    RETRY_SECONDS,
    SETTLE_SECONDS,
    TOP,
    LayerFilter,
    fitting,
)
from signaling.media.vp8 import Vp8Layer, read_layer, with_picture_id

PATTERN = (0, 2, 1, 2)  # L1T3, as libwebrtc and libvpx lay out three layers


def payload(picture_id: int, tid: int, sync: bool, start: bool = True, tl0: int = 0) -> bytes:
    descriptor = VpxPayloadDescriptor(
        partition_start=1 if start else 0,
        partition_id=0,
        picture_id=picture_id,
        tl0picidx=tl0,
        tid=(tid, 1 if sync else 0),
    )
    return bytes(descriptor) + b"\x00" * 20


@pytest.mark.parametrize("picture_id", [5, 127, 128, 0x7FFF])
@pytest.mark.parametrize("tid", [0, 1, 2])
def test_the_layer_is_read_from_what_aiortc_writes(picture_id: int, tid: int) -> None:
    data = payload(picture_id, tid, sync=tid == 1, start=False)
    layer = read_layer(data)
    assert layer is not None
    assert (layer.tid, layer.sync, layer.start) == (tid, tid == 1, False)
    assert layer.picture_id(data) == picture_id
    renumbered = with_picture_id(data, layer, picture_id - 3)
    parsed, rest = VpxPayloadDescriptor.parse(renumbered)
    assert parsed.picture_id == (picture_id - 3) % (0x8000 if picture_id > 127 else 0x80)
    assert (parsed.tid, parsed.tl0picidx, rest) == ((tid, 1 if tid == 1 else 0), 0, b"\x00" * 20)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x90",  # X set, the extension byte missing
        b"\x10\x00\x00",  # no X: no layers
        bytes(VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=9)),  # no T
        b"\x90\xa0",  # T announced, nothing after
        b"\x90\xe0\x80",  # I with M announced, truncated
    ],
)
def test_a_payload_without_layers_or_cut_short_has_none(data: bytes) -> None:
    assert read_layer(data) is None


@dataclass
class Sent:
    seq: int
    picture_id: int
    tid: int


def run(
    filt: LayerFilter, frames: range, *, packets_per_frame: int = 2, keyframes: tuple[int, ...] = ()
) -> list[Sent]:
    """Feed a layered stream frame by frame; what the filter lets through, renumbered."""
    out = []
    for frame in frames:
        tid = PATTERN[frame % 4]
        # libwebrtc marks the first frame of each upper layer after a base frame as a sync point
        sync = tid > 0 and frame % 4 in (1, 2)
        for part in range(packets_per_frame):
            seq = frame * packets_per_frame + part
            data = payload(frame % 0x8000, tid, sync, start=part == 0)
            layer = read_layer(data)
            assert layer is not None
            decision = filt.decide(seq & 0xFFFF, frame * 3000, layer, frame in keyframes)
            if decision.forward:
                picture_id = layer.picture_id(data)
                assert picture_id is not None
                out.append(
                    Sent(seq - decision.seq_delta, picture_id - decision.picture_id_delta, tid)
                )
    return out


def assert_clean(sent: list[Sent], packets_per_frame: int = 2) -> None:
    """Sequence numbers without a hole, picture ids without a missing frame."""
    seqs = [s.seq for s in sent]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    pictures = sorted({s.picture_id for s in sent})
    assert pictures == list(range(pictures[0], pictures[0] + len(pictures)))


def test_every_layer_passes_untouched_at_the_top() -> None:
    filt = LayerFilter()
    sent = run(filt, range(40))
    assert len(sent) == 80
    assert [s.seq for s in sent] == list(range(80))
    assert filt.frames_dropped == 0


def test_down_to_the_base_layer_the_stream_stays_clean() -> None:
    filt = LayerFilter()
    run(filt, range(8))
    filt.target = 0
    sent = run(filt, range(8, 48))
    assert {s.tid for s in sent} == {0}
    assert len(sent) == 20  # one frame in four, two packets each
    assert_clean(sent)
    assert filt.current == 0
    assert filt.switches == 1


def test_up_one_layer_at_a_time_and_only_at_sync_points() -> None:
    filt = LayerFilter()
    filt.target = filt.current = 0
    run(filt, range(4))
    filt.target = TOP
    climbing = run(filt, range(4, 16))
    # Frame 4 is a base frame, 5 a sync frame of layer 2 (not the next layer: left out), 6 the
    # sync frame of layer 1 (taken), then layer 2 at frame 9, the next of its sync frames.
    assert [s.tid for s in climbing][::2] == [0, 1, 0, 2, 1, 2, 0, 2, 1, 2]
    assert_clean(climbing)
    assert filt.current == TOP


def test_a_keyframe_takes_the_target_at_once() -> None:
    filt = LayerFilter()
    filt.target = filt.current = 0
    run(filt, range(4))
    filt.target = TOP
    sent = run(filt, range(4, 8), keyframes=(4,))
    assert [s.tid for s in sent][::2] == [0, 2, 1, 2]


def test_a_late_or_repeated_packet_gets_the_number_of_its_frame() -> None:
    filt = LayerFilter()
    filt.target = 0
    first = run(filt, range(12))
    layer = read_layer(payload(8, 0, False, start=False))
    assert layer is not None
    again = filt.decide(8 * 2 + 1, 8 * 3000, layer, False)  # frame 8's second packet, again
    assert again.forward
    assert (8 * 2 + 1) - again.seq_delta == next(
        s.seq for s in first[1::2] if s.picture_id + again.picture_id_delta == 8
    )
    # A repeated packet of a left-out frame is left out and shifts nothing after it.
    dropped = read_layer(payload(9, 2, True, start=False))
    assert dropped is not None
    assert not filt.decide(9 * 2 + 1, 9 * 3000, dropped, False).forward
    later = run(filt, range(12, 20))
    assert_clean(first + later)


WEAK = (300_000, 100_000, 200_000)


def test_paused_the_subscriber_gets_no_video_and_comes_back_on_a_keyframe() -> None:
    filt = LayerFilter()
    run(filt, range(4))
    assert filt.steer(60_000, WEAK, now=98.0) is None  # one short estimate: still measuring
    assert filt.steer(55_000, WEAK, now=99.0) is None  # falling: down to the base layer...
    assert filt.target == 0
    # ...where the reports describe the old layer for a while: nothing moves...
    assert filt.steer(50_000, WEAK, now=99.0 + SETTLE_SECONDS / 2) is None
    assert filt.target == 0
    # ...then, still short and falling: sound only.
    assert filt.steer(45_000, WEAK, now=99.0 + SETTLE_SECONDS) == "paused"
    paused_at = 99.0 + SETTLE_SECONDS
    assert run(filt, range(4, 20)) == []
    assert filt.steer(50_000, WEAK, now=paused_at + 1) is None
    assert filt.steer(50_000, WEAK, now=paused_at + RETRY_SECONDS) == "resumed"
    assert run(filt, range(20, 23)) == []  # waiting for a keyframe
    back = run(filt, range(23, 32), keyframes=(24,))
    assert {s.tid for s in back} == {0}
    assert_clean(back)
    # Still too weak once settled, three seconds running: paused again, the next try later.
    resumed_at = paused_at + RETRY_SECONDS
    for second in range(3):
        assert filt.steer(50_000, WEAK, now=resumed_at + SETTLE_SECONDS + second) is None
    again = resumed_at + SETTLE_SECONDS + 3
    assert filt.steer(50_000, WEAK, now=again) == "paused"
    assert filt.steer(50_000, WEAK, now=again + RETRY_SECONDS) is None
    assert filt.steer(50_000, WEAK, now=again + 2 * RETRY_SECONDS) == "resumed"


def test_a_subscriber_reporting_no_loss_keeps_its_layer_whatever_the_estimate() -> None:
    filt = LayerFilter()
    filt.target = filt.current = 0
    targets = []
    for second in range(20):
        # An estimate lagging far below the base layer, falling even: the link carries it.
        assert filt.steer(90_000 - second * 1000, WEAK, now=float(second), loss=0.0) is None
        assert filt.target is not None
        targets.append(filt.target)
    assert targets == sorted(targets)  # never down; seconds without loss even try higher


def test_losses_move_a_subscriber_down_even_while_its_estimate_rises() -> None:
    filt = LayerFilter()
    filt.steer(400_000, WEAK, now=0.0, loss=0.15)
    assert filt.target == 0  # 400 kbps carries the base layer only (300 kbps)
    filt.steer(330_000, WEAK, now=1.0, loss=0.0)
    assert filt.target == 0


def test_seconds_without_loss_try_the_next_layer() -> None:
    filt = LayerFilter()
    filt.target = filt.current = 0
    for second in range(5):
        filt.steer(300_000, WEAK, now=float(second), loss=0.0)
        assert filt.target == 0
    filt.steer(300_000, WEAK, now=5.0, loss=0.0)  # 300 kbps: three quarters of layer 1's 400
    assert filt.target == 1
    # It does not hold (losses): back down, asking for a keyframe, and the next try waits.
    assert filt.steer(300_000, WEAK, now=6.0, loss=0.2) == "repair"
    assert filt.target == 0
    for second in range(9, 15):
        filt.steer(300_000, WEAK, now=float(second), loss=0.0)
    assert filt.target == 1  # clean for 5 s once settled, and past the wait (4 s)
    # An estimate far below the next layer does not try it, however clean.
    low = LayerFilter()
    low.target = low.current = 0
    for second in range(10):
        low.steer(200_000, WEAK, now=float(second), loss=0.0)
    assert low.target == 0


def test_an_estimate_still_climbing_moves_nobody_down() -> None:
    filt = LayerFilter()
    for second, estimate in enumerate((100_000, 200_000, 300_000, 450_000, 650_000)):
        filt.steer(estimate, WEAK, now=float(second))
        assert filt.target == TOP
    assert filt.target is not None  # not paused


def test_the_target_follows_the_estimate_and_probes_upwards() -> None:
    rates = (300_000, 150_000, 250_000)  # 300, 450, 700 kbps with the layers below
    assert fitting(1_000_000, rates) == 2
    assert fitting(500_000, rates) == 1
    assert fitting(320_000, rates) == 0
    assert fitting(200_000, rates) is None
    filt = LayerFilter()
    filt.steer(800_000, rates, now=0.0)
    filt.steer(500_000, rates, now=1.0)  # falling, short of the top
    assert filt.target == 1
    # Once settled, an estimate 25 % above what layer 1 needs tries layer 2...
    filt.steer(570_000, rates, now=1.0 + SETTLE_SECONDS)
    assert filt.target == 2
    # ...which does not hold, and is not tried again before the wait is over.
    failed = 2.0 + SETTLE_SECONDS
    filt.steer(480_000, rates, now=failed)
    assert filt.target == 1
    filt.steer(570_000, rates, now=failed + SETTLE_SECONDS)
    assert filt.target == 1
    filt.steer(570_000, rates, now=failed + PROBE_WAIT)
    assert filt.target == 2
    # A big estimate at once still climbs one layer per second.
    filt.target = 0
    filt.steer(2_000_000, rates, now=20.0)
    assert filt.target == 1
    filt.steer(2_000_000, rates, now=21.0)
    assert filt.target == 2
    # Nothing measured yet (a publisher starting): the target stays where it is.
    assert filt.steer(10_000, (0, 0, 0), now=50.0) is None
    assert filt.target == 2


def test_a_packet_without_layers_leaves_the_filter_alone() -> None:
    assert read_layer(payload(1, 0, False)[:1]) is None
    assert Vp8Layer(0, False, True, -1, 7).picture_id(b"\x00") is None


def test_an_estimate_collapsing_to_zero_pauses_that_subscriber_only() -> None:
    weak, other = LayerFilter(), LayerFilter()
    weak.steer(800_000, WEAK, now=0.0)
    other.steer(800_000, WEAK, now=0.0)
    assert weak.steer(0, WEAK, now=1.0) is None  # the base layer first
    assert weak.target == 0
    settled = 1.0 + SETTLE_SECONDS
    assert weak.steer(0, WEAK, now=settled) is None
    assert weak.steer(0, WEAK, now=settled + 1) is None
    assert weak.steer(0, WEAK, now=settled + 2) == "paused"  # and sound only once it lasts
    assert other.steer(800_000, WEAK, now=1.0) is None
    assert other.target == TOP
    assert len(run(other, range(8))) == 16


def test_a_publisher_that_stops_sending_a_layer_leaves_the_best_that_exists() -> None:
    filt = LayerFilter()
    # The top layer stopped: what is measured of it is nothing, so the layers below decide.
    filt.steer(500_000, (300_000, 150_000, 0), now=0.0)
    assert filt.target == TOP
    frames = [f for f in range(40) if PATTERN[f % 4] < 2]
    sent: list[Sent] = []
    for frame in frames:
        sent += run(filt, range(frame, frame + 1))
    assert {s.tid for s in sent} == {0, 1}
    assert filt.frames_dropped == 0


def test_a_layer_above_the_three_is_left_out() -> None:
    filt = LayerFilter()
    data = payload(3, 3, True)
    layer = read_layer(data)
    assert layer is not None
    assert layer.tid == 3
    assert not filt.decide(0, 0, layer, False).forward
