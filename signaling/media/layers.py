"""Temporal layers per subscriber: which of a layered publisher's frames one subscriber gets.

Each subscriber's forwarder holds a ``LayerFilter``. Its *target* follows that subscriber's own
bandwidth estimate (REMB) and the loss it reports against what each layer costs (``steer``, and
``docs/protocol.md``, *Temporal layers*, for the rules), so a weak link gets fewer
frames per second and nobody else is affected. The filter moves down at any frame, and up one
layer at a time, at a frame marked "layer sync" or a keyframe, so the decoder never meets a frame
whose reference it did not get. When even the base layer does not fit, the subscriber gets no
video from that source (sound goes on) and the filter tries the base layer again after a while:
its estimate is only renewed while video flows. An estimate only grows with what is sent, so a
subscriber whose estimate stands well above what it gets is tried on the next layer, and a layer
that did not hold is tried again later and later.

Dropping frames leaves holes in sequence numbers and picture ids; the filter gives each frame it
forwards the offsets that close them, decided once per frame (by RTP timestamp), so packets that
arrive late or again (retransmissions) get the same numbers as their frame.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from signaling.media.vp8 import Vp8Layer

TOP = 2  # L1T3: layers 0, 1, 2
FRAMES_KEPT = 32  # decisions remembered, for packets that come late or again
FIT = 0.95  # a layer fits while it needs at most this share of the estimate
PROBE_HEADROOM = 1.25  # an estimate this far above what is sent says the link has room
PROBE_WAIT = 4.0  # seconds before trying a layer that did not fit again (doubling to 64 s)
SHORT_SECONDS = 3  # an estimate level and short of the layer this many seconds: move down
LOSS_CLEAN = 0.02  # a subscriber reporting less loss than this is not congested
LOSS_CONGESTED = 0.10  # one reporting this much is, whatever its estimate says
CLEAN_SECONDS = 5.0  # this long without loss on a layer: try the next one...
CLEAN_PROBE_SHARE = 0.75  # ...if the estimate reaches this share of what it needs
SETTLE_SECONDS = 3.0  # after video resumed or moved down, nothing moves for this long
RETRY_SECONDS = 5.0  # with no video, try the base layer again after this long (doubling to 40 s)


@dataclass(frozen=True, slots=True)
class Decision:
    forward: bool
    seq_delta: int  # subtracted from the source's sequence number
    picture_id_delta: int  # subtracted from the source's picture id


def fitting(estimate_bps: int, rates_bps: tuple[int, int, int]) -> int | None:
    """The highest layer whose rate, with those below it, fits the estimate; None when even the
    base layer does not. ``rates_bps`` are each layer's own rate at the source."""
    total = 0
    best: int | None = None
    for layer, rate in enumerate(rates_bps):
        total += rate
        if total > estimate_bps * FIT:
            break
        best = layer
    return best


def cumulative(rates_bps: tuple[int, int, int], layer: int) -> int:
    return sum(rates_bps[: layer + 1])


class LayerFilter:
    def __init__(self) -> None:
        self.target: int | None = TOP
        self.current: int | None = TOP
        self.switches = 0
        self.frames_dropped = 0
        self.paused_since: float | None = None
        self._retry_after = RETRY_SECONDS
        self._packets_dropped = 0
        self._highest_seq: int | None = None
        self._frames: OrderedDict[int, Decision] = OrderedDict()
        self._probing: int | None = None  # the layer being tried
        self._last_estimate: int | None = None
        self._short = 0
        self._settled_at = 0.0
        self._clean_since: float | None = None
        self._probe_wait: dict[int, float] = {}
        self._probe_not_before: dict[int, float] = {}

    # ---- the target --------------------------------------------------------------------

    def steer(
        self,
        estimate_bps: int,
        rates_bps: tuple[int, int, int],
        now: float,
        loss: float | None = None,
    ) -> str | None:
        """Choose the target from the subscriber's estimate and the loss it reports; says
        "paused" or "resumed" when video stops or starts again for this subscriber, and
        "repair" when it moved down after heavy losses (it needs a keyframe).

        A delay-based estimate lags: it starts low, reads a keyframe's burst as congestion and
        then climbs a few per cent a second. So an estimate short of what is sent moves the
        subscriber down only when the link shows it — the estimate falling, losses, or a
        shortfall that lasts — and never while the subscriber reports (almost) no loss. Going
        below the base layer takes two steps: the base layer first, then sound only. Upwards,
        an estimate standing well above what the subscriber gets, or a few seconds without loss,
        tries the next layer; one that does not hold is not tried again for a while."""
        if self.target is None:
            if self.paused_since is not None and now - self.paused_since >= self._retry_after:
                self._retry_after = min(self._retry_after * 2, 8 * RETRY_SECONDS)
                self.target = 0
                self.paused_since = None
                self._settled_at = now + SETTLE_SECONDS
                self._clean_since = None
                return "resumed"
            return None
        if sum(rates_bps) == 0:
            return None  # nothing measured yet: the publisher is starting
        if now < self._settled_at:
            # Just after video resumed or moved down, the reports still describe what was sent
            # before (losses), and the estimator is digesting the change (a keyframe's burst,
            # a stream starting again): wait for them to describe the new layer.
            self._last_estimate = estimate_bps
            return None
        last = self._last_estimate
        self._last_estimate = estimate_bps
        clean = loss is not None and loss < LOSS_CLEAN
        congested = loss is not None and loss >= LOSS_CONGESTED
        if not clean:
            self._clean_since = None
        elif self._clean_since is None:
            self._clean_since = now
        layer = fitting(estimate_bps, rates_bps)
        fits = layer is not None and layer >= self.target
        if layer is None or layer < self.target:
            if not congested and (clean or (last is not None and estimate_bps > last)):
                layer = self.target  # the link carries what it gets: the estimate is lagging
            elif not congested:
                self._short += 1
                falling = last is not None and estimate_bps < last
                if not falling and self._short < SHORT_SECONDS:
                    return None
        else:
            self._short = 0
        if layer is None:
            self._failed(self.target, now)
            self._short = 0
            if self.target > 0:
                self.target = 0
                self._settled_at = now + SETTLE_SECONDS
                return "repair" if congested else None
            self.target = None
            self.paused_since = now
            return "paused"
        if layer < self.target:
            self._failed(self.target, now)
            self._short = 0
            self._settled_at = now + SETTLE_SECONDS
            self.target = layer
            # Heavy losses broke frames the lower layers refer to: start clean on a keyframe.
            return "repair" if congested else None
        elif layer > self.target:
            layer = self.target + 1  # one layer at a time, a second apart at least
        elif (
            layer == self.target < TOP
            and now >= self._probe_not_before.get(layer + 1, 0.0)
            and (
                estimate_bps >= cumulative(rates_bps, layer) * PROBE_HEADROOM
                or (
                    self._clean_since is not None
                    and now - self._clean_since >= CLEAN_SECONDS
                    and estimate_bps >= cumulative(rates_bps, layer + 1) * CLEAN_PROBE_SHARE
                )
            )
        ):
            layer += 1
            self._probing = layer
            self._clean_since = None
        self.target = layer
        held = self._clean_since is not None and now - self._clean_since >= CLEAN_SECONDS
        if self.current is not None and self.current >= layer and (fits or held):
            self._retry_after = RETRY_SECONDS  # video holds again: a later pause waits 5 s
        return None

    def _failed(self, layer: int, now: float) -> None:
        """A layer that was being tried did not hold: wait longer before the next try."""
        if self._probing != layer:
            return
        self._probing = None
        wait = self._probe_wait.get(layer, PROBE_WAIT / 2) * 2
        self._probe_wait[layer] = min(wait, 16 * PROBE_WAIT)
        self._probe_not_before[layer] = now + self._probe_wait[layer]

    # ---- per packet (hot) ------------------------------------------------------------

    def decide(
        self, sequence_number: int, timestamp: int, layer: Vp8Layer, keyframe: bool
    ) -> Decision:
        decision = self._frames.get(timestamp)
        if decision is None:
            decision = self._new_frame(layer, keyframe)
            self._frames[timestamp] = decision
            if len(self._frames) > FRAMES_KEPT:
                self._frames.popitem(last=False)
        highest = self._highest_seq
        first_arrival = highest is None or ((sequence_number - highest) & 0xFFFF) < 0x8000
        if first_arrival and sequence_number != highest:
            self._highest_seq = sequence_number
            if not decision.forward:
                self._packets_dropped += 1
        return decision

    def _new_frame(self, layer: Vp8Layer, keyframe: bool) -> Decision:
        target = self.target
        current = self.current
        if target is None:
            current = None
        elif keyframe:
            current = target
        elif current is None:
            pass  # back from a pause: wait for the keyframe
        elif target < current:
            current = target
        elif target > current and layer.sync and layer.tid == current + 1:
            current = layer.tid
        if current != self.current:
            self.switches += 1
            self.current = current
        forward = current is not None and layer.tid <= current
        if not forward:
            self.frames_dropped += 1
        return Decision(forward, self._packets_dropped, self.frames_dropped)
