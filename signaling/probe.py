"""The pre-join test call: a browser publishes for a few seconds to a peer that forwards nothing.

The server's receiver reports (loss, and the LSR/DLSR a browser turns into round-trip time) and its
REMB are the same as in a meeting, so what the browser measures is what the meeting will get.
"""

from __future__ import annotations

import asyncio
import secrets

from sessions.settings import Settings
from signaling.media.quality import profile
from signaling.peer import CandidatePolicy, PublishPeer, rtc_configuration

PROBE_SECONDS = 30.0
MAX_PROBES = 20


class Probes:
    def __init__(self, settings: Settings) -> None:
        self._configuration = rtc_configuration(settings.ice_servers)
        self._policy = CandidatePolicy.from_settings(settings.ice_allowed_remote)
        self._peers: dict[str, PublishPeer] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._owners: dict[str, str] = {}  # probe id -> the join token subject that made it
        self._closing: set[asyncio.Future[None]] = set()

    async def answer(self, offer_sdp: str, owner: str) -> tuple[str, str]:
        """A test call for ``owner`` (a meeting and token subject): one at a time each, and an
        offer that is not SDP is refused before it takes a place."""
        PublishPeer.check_offer(offer_sdp)
        for previous in [p for p, o in self._owners.items() if o == owner]:
            await self.close(previous)  # the same person testing again
        if len(self._peers) >= MAX_PROBES:
            raise RuntimeError("too many test calls at once")
        probe_id = secrets.token_urlsafe(18)
        cap = profile("standard").video_kbps * 1000
        peer = PublishPeer(
            f"probe-{probe_id[:8]}",
            self._configuration,
            self._policy,
            on_source=lambda source: None,
            bitrate_cap_bps=lambda source: cap,
            on_failed=lambda: self._expire(probe_id),
        )
        self._peers[probe_id] = peer
        self._owners[probe_id] = owner
        self._timers[probe_id] = asyncio.get_running_loop().call_later(
            PROBE_SECONDS, self._expire, probe_id
        )
        try:
            return probe_id, await peer.answer(offer_sdp)
        except Exception:
            await self.close(probe_id)
            raise

    def owner_of(self, probe_id: str) -> str | None:
        return self._owners.get(probe_id)

    def _expire(self, probe_id: str) -> None:
        task = asyncio.ensure_future(self.close(probe_id))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self, probe_id: str) -> None:
        timer = self._timers.pop(probe_id, None)
        if timer is not None:
            timer.cancel()
        self._owners.pop(probe_id, None)
        peer = self._peers.pop(probe_id, None)
        if peer is not None:
            await peer.close()

    async def close_all(self) -> None:
        for probe_id in list(self._peers):
            await self.close(probe_id)
