"""Continuity across a restart in real Chromium: ``python -m bench.restart`` (root).

``python -m bench.restart [--json] [--runs N] [--down S]``.

A leader's meeting page and two commune kiosks are in a live meeting; the server process is killed
(SIGKILL: no goodbye) and started again. Measured per run: from the kill to the server answering
again (``ready``), and from ``ready`` to the first video frame each page renders from the others
again (the pages reconnect by themselves, with the back-off of ``web/static/js/protocol.js``).
``--down`` keeps the server down that long before starting it, as a slower machine or a longer
recovery would. Also checked: each page is back as who it was, admitted (the kiosks never wait for
the chair again). Target: media again within 5 s of ready. The baseline, in the same run, is how
long after a plain page reload the same pages render video again (a fresh join, with no restart to
wait out). Everything runs inside a loopback-only network namespace, as the browser tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

from bench.join import enter_room, new_meeting, prepare, signed_in_leader
from bench.netns import CHROMIUM_ARGS, Netns, Stage
from sessions.enums import MeetingStatus

# Every remote video frame a page renders, with its wall-clock time (new tiles included).
WATCH_FRAMES = """() => {
  window.benchFrames = [];
  const seen = new WeakSet();
  const attach = () => document.querySelectorAll('.tile:not(.self) video').forEach((v) => {
    if (seen.has(v) || !v.requestVideoFrameCallback) return;
    seen.add(v);
    const tick = () => { window.benchFrames.push(Date.now()); v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
  });
  attach();
  window.setInterval(attach, 50);
}"""


LIVE = "() => window.diemcau.session.state === 'live'"


async def first_frame_after(page: Page, since_ms: float, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await page.evaluate(
            "(since) => (window.benchFrames || []).find((t) => t > since) || 0", since_ms
        )
        if found:
            return float(found)
        await asyncio.sleep(0.05)
    raise TimeoutError("no video frame rendered again")


async def admitted(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "() => window.diemcau.session.state === 'live' && !window.diemcau.session.waiting"
        )
    )


def kill(stage: Stage) -> None:
    assert stage.proc is not None
    stage.proc.send_signal(signal.SIGKILL)
    stage.proc.wait(timeout=10)
    stage.netns.children.remove(stage.proc)
    stage.proc = None


async def run(runs: int, down: float) -> dict[str, Any]:
    ready_ms: list[float] = []
    back_ms: list[float] = []
    reload_ms: list[float] = []
    same_people = True
    with tempfile.TemporaryDirectory(prefix="diemcau-restart-") as tmp:
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
                kiosks = []
                for token in (world["kiosk_a"], world["kiosk_b"]):
                    page = await (await browser.new_context()).new_page()
                    await page.goto(f"{stage.url}/kiosk/{token}")
                    kiosks.append(page)
                pages = [leader, *kiosks]
                for page in pages:
                    await page.evaluate(WATCH_FRAMES)
                    await first_frame_after(page, 0)
                ids = [
                    await p.evaluate("() => window.diemcau.session.participantId") for p in pages
                ]
                for n in range(1, runs + 1):
                    await asyncio.sleep(3)  # a steady meeting
                    killed = time.time() * 1000
                    await asyncio.to_thread(kill, stage)
                    await asyncio.sleep(down)  # a slower machine or a longer recovery
                    await asyncio.to_thread(stage.start)
                    ready = time.time() * 1000
                    ready_ms.append(ready - killed)
                    back = [await first_frame_after(p, ready) - ready for p in pages]
                    back_ms.extend(back)
                    for page in pages:
                        await page.wait_for_function(
                            "() => window.diemcau.session.state === 'live'"
                        )
                    now_ids = [
                        await p.evaluate("() => window.diemcau.session.participantId")
                        for p in pages
                    ]
                    same_people = same_people and now_ids == ids
                    same_people = same_people and all([await admitted(p) for p in pages])
                    # The baseline: a kiosk page reloaded on the running server.
                    reloaded_at = time.time() * 1000
                    await kiosks[0].reload()
                    await kiosks[0].evaluate(WATCH_FRAMES)
                    reload_ms.append(await first_frame_after(kiosks[0], reloaded_at) - reloaded_at)
                    print(
                        f"run {n}: ready {ready_ms[-1]:.0f} ms after the kill; video again "
                        f"{', '.join(f'{b:.0f}' for b in back)} ms after ready; a reload "
                        f"{reload_ms[-1]:.0f} ms",
                        file=sys.stderr,
                    )
                await browser.close()
            stage.stop()
        finally:
            space.close()
    return {
        "command": f"python -m bench.restart --json --runs {runs} --down {down:g}",
        "down_seconds": down,
        "runs": runs,
        "pages": "a leader's meeting page and two commune kiosks (real Chromium)",
        "kill_to_ready_ms": _summary(ready_ms),
        "ready_to_video_again_ms": _summary(back_ms),
        "baseline_reload_to_video_ms": _summary(reload_ms),
        "ratio_restart_over_reload": round(
            statistics.median(back_ms) / statistics.median(reload_ms), 2
        ),
        "same_participants_admitted": same_people,
        "target_ready_to_video_ms": 5000,
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values)),
        "min": round(min(values)),
        "max": round(max(values)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--down", type=float, default=0.0, help="seconds the server stays down before it starts"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.runs, args.down))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
