"""Quality profiles: the bitrate each publisher is told to stay under, picked per meeting. A
browser publishing temporal layers sends at this rate for the best link and each subscriber takes
the layers its own link carries; an aiortc publisher sends one layer for everyone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityProfile:
    name: str
    video_kbps: int
    audio_kbps: int


PROFILES = {
    p.name: p
    for p in (
        QualityProfile("low", 300, 32),  # commune sites on weak links, phones on mobile data
        QualityProfile("standard", 800, 48),  # 640x480 at 30 fps
        QualityProfile("high", 1500, 64),  # 1280x720 between the two offices
        QualityProfile("audio_only", 0, 48),
    )
}


def profile(name: str) -> QualityProfile:
    return PROFILES.get(name, PROFILES["standard"])
