"""Quality profiles: the bitrate each publisher is told to stay under (aiortc has no simulcast,
so one quality serves every subscriber of a meeting; pick it per meeting)."""

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
