"""Adaptation to a weak link, in real Chromium: ``python -m bench.adapt`` (root).

``python -m bench.adapt [--json] [--seconds S] [--limit-kbps N] [--watchers K] [--queue-ms Q,…]``.

A leader's browser publishes its camera (Chromium's fake device) with three temporal layers. K
watchers (``bench.watcher``: aiortc, publishing nothing, decoding — a receiver that decodes is
the one whose bandwidth estimate, REMB, reaches the server) receive it; in each *weak* case one
of them is behind a bottleneck of N kbps (``bench.impair.Bottleneck``) with a buffer of Q ms
(tail drop beyond it).
The baseline, in the same run, is the same meeting with no bottleneck. Reported per case: each
watcher's frames per second over the second half of the window, the longest gap between two
frames there, and the layers the server chose for it (``/live/rooms`` read every second by the
leader's page): time on each layer and on sound only. The others' frame rate in the weak case
against the baseline is the ratio that matters: a weak link must cost nobody else anything.
Everything runs inside a loopback-only network namespace, as the browser tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

from bench.join import enter_room, new_meeting, prepare, signed_in_leader
from bench.netns import CHROMIUM_ARGS, Netns, Stage
from bench.watcher import freezes, paused_spans
from sessions import tokens
from sessions.enums import MeetingStatus
from sessions.tokens import JoinClaims, RoomRole

ROOMS = "fetch('/live/rooms').then((r) => r.json())"


async def layered(page: Page) -> bool:
    rooms = await page.evaluate(ROOMS)
    return any(
        p["sources"].get("video", {}).get("layered")
        for room in rooms["rooms"]
        for p in room["participants"]
    )


async def until_layered(page: Page, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await layered(page):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("the browser published no temporal layers")


async def one_case(
    space: Netns,
    stage: Stage,
    world: dict[str, Any],
    leader: Page,
    meeting_id: int,
    limits: list[int],
    seconds: float,
    tmp: Path,
    label: str,
    queue_ms: int,
) -> dict[str, Any]:
    procs = []
    for n, limit in enumerate(limits):
        token = tokens.sign(
            JoinClaims(meeting_id, f"invitee:{label}{n}", f"{label}{n}", RoomRole.PARTICIPANT,
                       4102444800),
            world["settings"].session_key,
        )  # fmt: skip
        out = tmp / f"{label}{n}.json"
        procs.append(
            (
                f"{label}{n}",
                limit,
                out,
                space.spawn(
                    ["-m", "bench.watcher", stage.url, token, str(out), "--seconds",
                     str(seconds), "--limit-kbps", str(limit), "--queue-ms", str(queue_ms),
                     "--decode"],
                    {},
                    tmp / f"{label}{n}.log",
                ),
            )
        )  # fmt: skip
    layers: dict[str, Counter[str]] = {name: Counter() for name, *_ in procs}
    timeline: dict[str, list[tuple[str, int, float]]] = {name: [] for name, *_ in procs}
    keyframes: list[int] = []  # the leader's video keyframes so far, each second
    while any(proc.poll() is None for *_, proc in procs):
        rooms = await leader.evaluate(ROOMS)
        keyframes.append(
            sum(
                person["sources"].get("video", {}).get("keyframes", 0)
                for room in rooms["rooms"]
                for person in room["participants"]
                if person["role"] == "chair"
            )
        )
        for room in rooms["rooms"]:
            for person in room["participants"]:
                for entry in person["layers"]:
                    if person["name"] in layers:
                        layer = entry["layer"]
                        shown = str(layer) if layer is not None else "sound only"
                        layers[person["name"]][shown] += 1
                        timeline[person["name"]].append(
                            (shown, entry["estimate_kbps"], entry["loss_percent"])
                        )
        await asyncio.sleep(1)
    watchers = []
    for name, limit, out, _ in procs:
        if not out.exists():
            raise RuntimeError((tmp / f"{name}.log").read_text())
        report = json.loads(out.read_text())
        times = [t for frames in report["video"].values() for t in frames]
        half = [t for t in sorted(times) if t >= seconds / 2]
        gaps = [b - a for a, b in itertools.pairwise(half)]
        watchers.append(
            {
                "watcher": name,
                "limit_kbps": limit,
                "fps_second_half": round(len(half) / (seconds / 2), 1),
                "longest_gap_s": round(max(gaps, default=seconds / 2), 2),
                # every gap over 1 s in the whole run but while told "sound only":
                # [seconds after joining, length]
                "freezes": freezes(times, paused_spans(report["video_link"], seconds)),
                "seconds_on_layer": dict(layers[name]),
                "keyframe_requests": len(report["keyframe_requests"]),
                "jitter_buffer_gave_up": report["jitter_buffer_gave_up"],
                "told_sound_only": sum(1 for m in report["video_link"] if m["paused"]),
                "bottleneck_dropped": report["bottleneck"]["dropped"],
                "offered_kbps": report["bottleneck"]["offered_kbps"] if limit else [],
                # each second: the layer it was on, its estimate (kbps), its loss (%)
                "timeline": timeline[name] if limit else [],
            }
        )
    # Keyframes cost every viewer a burst: how many the leader sent during the case.
    sent = keyframes[-1] - keyframes[0] if keyframes else 0
    return {"case": label, "leader_keyframes": sent, "watchers": watchers}


async def run(seconds: float, limit_kbps: int, count: int, queues_ms: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="diemcau-adapt-") as tmp:
        space = Netns(Path(tmp))
        space.start()
        try:
            world = await prepare(Path(tmp) / "data")
            url = world["settings"].effective_database_url
            stage = Stage(space, Path(tmp) / "data")
            meeting_id = await new_meeting(url, world, MeetingStatus.OPEN, 1)
            stage.start()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(space.chromium), args=CHROMIUM_ARGS
                )
                leader = await signed_in_leader(browser, stage.url)
                await enter_room(leader, stage.url, meeting_id)
                await until_layered(leader)
                await asyncio.sleep(5)  # the browser's own estimate ramps up
                cases = []
                plan = [("baseline", [0] * count, 0)] + [
                    (f"weak, {q} ms buffer", [limit_kbps] + [0] * (count - 1), q) for q in queues_ms
                ]
                for n, (label, limits, queue_ms) in enumerate(plan):
                    case = await one_case(
                        space, stage, world, leader, meeting_id, limits, seconds, Path(tmp),
                        f"w{n}-", queue_ms,
                    )  # fmt: skip
                    case["case"] = label
                    print(json.dumps(case, ensure_ascii=False), file=sys.stderr)
                    cases.append(case)
                await browser.close()
            stage.stop()
        finally:
            space.close()
    baseline = statistics.median(w["fps_second_half"] for w in cases[0]["watchers"])
    return {
        "command": f"python -m bench.adapt --json --seconds {seconds:g} --limit-kbps "
        f"{limit_kbps} --watchers {count} --queue-ms {','.join(map(str, queues_ms))}",
        "publisher": "Chromium, fake camera, VP8 L1T3",
        "cases": cases,
        # per weak case: the median frame rate of the others, over the baseline's
        "others_fps_over_baseline": [
            round(statistics.median(w["fps_second_half"] for w in c["watchers"][1:]) / baseline, 3)
            for c in cases[1:]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--limit-kbps", type=int, default=450)
    parser.add_argument("--watchers", type=int, default=3)
    parser.add_argument(
        "--queue-ms", default="250,1000", help="the bottleneck's buffer, one weak case for each"
    )
    args = parser.parse_args()
    queues = [int(q) for q in args.queue_ms.split(",")]
    result = asyncio.run(run(args.seconds, args.limit_kbps, args.watchers, queues))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
