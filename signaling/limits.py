"""Per-sender rate limits: one participant's burst costs that participant, nobody else.

Each client message type belongs to a class with its own token bucket (rate per second and
burst). A message over its class's limit is not handled; the sender gets one ``rate_limited``
error per message type (the outbox coalesces them), and the connection goes on. The two
messages that only state the sender's own current value (``raise_hand``, ``mute``) are not
lost: the latest one over the limit is kept and applied as soon as the bucket allows, so the
room always ends with the state the client last asked for. ``leave`` is never limited.
``docs/protocol.md`` (*Fair rooms*) lists the classes and their numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from signaling import protocol


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs a positive rate and a burst of at least 1")


# Message classes and their limits: generous for people and browsers, tight for floods.
RATES: dict[str, Rate] = {
    "state": Rate(per_second=5, burst=10),  # raise_hand, mute: a person's clicks
    "ping": Rate(per_second=1, burst=5),
    "negotiation": Rate(per_second=5, burst=20),  # offers, answers, ICE restarts
    "candidate": Rate(per_second=50, burst=100),  # trickle ICE comes in bursts
    "chair": Rate(per_second=10, burst=30),  # admit, mute, floor, remove, recording
}
MESSAGE_CLASS: dict[str, str] = {
    "raise_hand": "state",
    "mute": "state",
    "ping": "ping",
    "hello": "negotiation",
    "publish_offer": "negotiation",
    "subscribe_answer": "negotiation",
    "ice_restart": "negotiation",
    "candidate": "candidate",
    "admit": "chair",
    "send_back": "chair",
    "mute_participant": "chair",
    "remove": "chair",
    "give_floor": "chair",
    "end_meeting": "chair",
    "recording_control": "chair",
}
# Messages whose latest value is kept when over the limit, and applied later.
DEFERRABLE = frozenset({"raise_hand", "mute"})

Verdict = Literal["handle", "deferred", "refused"]


@dataclass
class TokenBucket:
    rate: Rate
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: Rate, now: float) -> TokenBucket:
        return cls(rate, float(rate.burst), now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(float(self.rate.burst), self.tokens + elapsed * self.rate.per_second)
        self.stamp = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until one token is available."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) / self.rate.per_second)


@dataclass
class SenderLimits:
    """The buckets of one connection, and its deferred state messages."""

    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    deferred: dict[str, protocol.ClientMessage] = field(default_factory=dict)
    refused: int = 0

    def _bucket(self, kind: str, now: float) -> TokenBucket | None:
        name = MESSAGE_CLASS.get(kind)
        if name is None:
            return None
        bucket = self.buckets.get(name)
        if bucket is None:
            bucket = self.buckets[name] = TokenBucket.full(RATES[name], now)
        return bucket

    def check(self, message: protocol.ClientMessage, now: float) -> Verdict:
        bucket = self._bucket(message.type, now)
        if bucket is None:
            return "handle"
        if message.type in DEFERRABLE and message.type in self.deferred:
            # A newer value while one waits: it replaces the waiting one, keeping the order.
            self.deferred[message.type] = message
            return "deferred"
        if bucket.take(now):
            return "handle"
        self.refused += 1
        if message.type in DEFERRABLE:
            self.deferred[message.type] = message
            return "deferred"
        return "refused"

    def due_in(self, now: float) -> float | None:
        """Seconds until a deferred message may be handled, or None when none waits."""
        waits = [
            bucket.wait(now)
            for kind in self.deferred
            if (bucket := self._bucket(kind, now)) is not None
        ]
        return min(waits) if waits else None

    def release(self, now: float) -> list[protocol.ClientMessage]:
        """The deferred messages whose bucket now has a token (each takes one)."""
        ready = []
        for kind in list(self.deferred):
            bucket = self._bucket(kind, now)
            if bucket is None or bucket.take(now):
                ready.append(self.deferred.pop(kind))
        return ready
