"""One combined file for people who want a single video: everyone in a grid, voices mixed.

This is the only place where recordings are decoded and encoded, and it runs in the background,
after the meeting, on a thread — never on the forwarding path. Progress is reported as it goes.
"""

from __future__ import annotations

import fractions
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 15
RATE = 48000
CHUNK = RATE // 50  # 20 ms of audio per output frame


@dataclass(frozen=True)
class Input:
    path: str
    offset: float  # seconds from the start of the combined timeline
    label: str


def _layout(count: int) -> tuple[int, int, int, int]:
    cols = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / cols))
    return cols, rows, (WIDTH // cols) & ~1, (HEIGHT // rows) & ~1


def _video_frames(path: str, width: int, height: int) -> Iterator[tuple[float, Any]]:
    with av.open(path) as container:
        if not container.streams.video:
            return
        for frame in container.decode(video=0):
            if frame.time is None:
                continue
            scaled = frame.reformat(width=width, height=height, format="rgb24")
            yield float(frame.time), scaled.to_ndarray()


def _audio_samples(path: str) -> Iterator[tuple[float, Any]]:
    with av.open(path) as container:
        if not container.streams.audio:
            return
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            if frame.time is None:
                continue
            for out in resampler.resample(frame):
                yield float(frame.time), out.to_ndarray().reshape(-1).astype(np.int32)


def _duration(path: str) -> float:
    with av.open(path) as container:
        if container.duration:
            return float(container.duration) / av.time_base
        last = 0.0
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                last = max(last, float(packet.pts * packet.time_base))
        return last


def combine(
    inputs: list[Input], target: BinaryIO, progress: Callable[[int], None]
) -> tuple[int, int, float]:
    """Write the grid video and mixed audio; returns (video frames, audio frames, seconds)."""
    total = max((i.offset + _duration(i.path) for i in inputs), default=0.0)
    cols, _rows, tile_w, tile_h = _layout(len(inputs))
    out = av.open(target, mode="w", format="webm")
    video = out.add_stream("libvpx", rate=FPS)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    video.bit_rate = 900_000
    video.options = {"deadline": "realtime", "cpu-used": "8"}
    audio = out.add_stream("libopus", rate=RATE)
    audio.layout = "mono"
    pictures = [_video_frames(i.path, tile_w, tile_h) for i in inputs]
    latest: list[Any] = [None] * len(inputs)
    upcoming: list[tuple[float, Any] | None] = [next(p, None) for p in pictures]
    sounds = [_audio_samples(i.path) for i in inputs]
    buffers = [np.zeros(0, dtype=np.int32) for _ in inputs]
    buffer_start = [i.offset for i in inputs]
    frames_out = samples_out = 0
    video_frames = audio_frames = 0
    reported = -1
    audio_per_frame = RATE // FPS
    while frames_out / FPS < total:
        t = frames_out / FPS
        canvas = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        for n, source in enumerate(inputs):
            local = t - source.offset
            while upcoming[n] is not None and upcoming[n][0] <= local:  # type: ignore[index]
                latest[n] = upcoming[n][1]  # type: ignore[index]
                upcoming[n] = next(pictures[n], None)
            if latest[n] is not None and local >= 0:
                x, y = (n % cols) * tile_w, (n // cols) * tile_h
                canvas[y : y + tile_h, x : x + tile_w] = latest[n]
        frame = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")
        frame.pts = frames_out
        frame.time_base = fractions.Fraction(1, FPS)
        for packet in video.encode(frame):
            out.mux(packet)
            video_frames += 1
        frames_out += 1
        # Audio up to the end of this video frame, mixed from everyone.
        until = frames_out * audio_per_frame
        while samples_out < until:
            mixed = np.zeros(CHUNK, dtype=np.int32)
            chunk_start = samples_out / RATE
            for n in range(len(inputs)):
                need_end = chunk_start + CHUNK / RATE
                while buffer_start[n] + len(buffers[n]) / RATE < need_end:
                    item = next(sounds[n], None)
                    if item is None:
                        break
                    when, samples = item
                    start = inputs[n].offset + when
                    gap = round((start - (buffer_start[n] + len(buffers[n]) / RATE)) * RATE)
                    if gap > 0:
                        buffers[n] = np.concatenate([buffers[n], np.zeros(gap, dtype=np.int32)])
                    buffers[n] = np.concatenate([buffers[n], samples])
                skip = round((chunk_start - buffer_start[n]) * RATE)
                if skip > 0:
                    buffers[n] = buffers[n][skip:]
                    buffer_start[n] += skip / RATE
                if skip >= 0 and len(buffers[n]):
                    piece = buffers[n][:CHUNK]
                    mixed[: len(piece)] += piece
            pcm = np.clip(mixed, -32768, 32767).astype(np.int16).reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            sound.sample_rate = RATE
            sound.pts = samples_out
            sound.time_base = fractions.Fraction(1, RATE)
            for packet in audio.encode(sound):
                out.mux(packet)
                audio_frames += 1
            samples_out += CHUNK
        done = int(100 * t / total) if total else 100
        if done != reported:
            reported = done
            progress(done)
    for stream in (video, audio):
        for packet in stream.encode(None):
            out.mux(packet)
    out.close()
    target.close()
    progress(100)
    return video_frames, audio_frames, total
