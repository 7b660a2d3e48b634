"""Per-sender rate limits and the coalescing outbox key, without sockets."""

from __future__ import annotations

import pytest

from signaling import protocol
from signaling.limits import RATES, Rate, SenderLimits


def test_a_burst_is_cut_at_the_class_burst_and_refills_at_its_rate() -> None:
    limits = SenderLimits()
    burst = RATES["ping"].burst
    verdicts = [limits.check(protocol.Ping(), 100.0) for _ in range(burst + 3)]
    assert verdicts == ["handle"] * burst + ["refused"] * 3
    assert limits.refused == 3
    assert limits.check(protocol.Ping(), 100.0 + 1 / RATES["ping"].per_second) == "handle"


def test_state_over_the_limit_is_deferred_and_the_latest_value_wins() -> None:
    limits = SenderLimits()
    burst = RATES["state"].burst
    for _ in range(burst):
        assert limits.check(protocol.RaiseHand(raised=True), 0.0) == "handle"
    for i in range(500):
        assert limits.check(protocol.RaiseHand(raised=i % 2 == 0), 0.0) == "deferred"
    assert limits.release(0.0) == []  # no token yet
    wait = limits.due_in(0.0)
    assert wait is not None
    assert wait == pytest.approx(1 / RATES["state"].per_second)
    assert limits.release(wait) == [protocol.RaiseHand(raised=False)]  # i = 499
    assert limits.due_in(wait) is None


def test_classes_are_independent_and_leave_is_never_limited() -> None:
    limits = SenderLimits()
    for _ in range(RATES["ping"].burst + 1):
        limits.check(protocol.Ping(), 0.0)
    assert limits.check(protocol.RaiseHand(raised=True), 0.0) == "handle"
    assert all(limits.check(protocol.Leave(), 0.0) == "handle" for _ in range(1000))


def test_a_rate_validates_itself() -> None:
    with pytest.raises(ValueError, match="positive"):
        Rate(per_second=0, burst=1)


def test_state_messages_coalesce_and_events_do_not() -> None:
    info = protocol.ParticipantInfo(
        id="a1",
        name="Điểm cầu 1",
        role="site",
        role_label="",
        site_id=None,
        state="present",
        audio_muted=False,
        video_muted=False,
        audio_only=False,
        hand_raised=True,
        muted_by_chair=False,
        has_floor=False,
    )
    assert protocol.coalesce_key(protocol.ParticipantUpdated(info)) == "participant:a1"
    assert protocol.coalesce_key(protocol.Floor(None)) == "floor"
    assert protocol.coalesce_key(protocol.error("rate_limited", "ping")) == (
        "error:rate_limited:ping"
    )
    assert protocol.coalesce_key(protocol.ParticipantJoined(info)) is None
    assert protocol.coalesce_key(protocol.ParticipantLeft("a1", "left")) is None
