"""Two servers side by side: ``python -m bench.loops [--json] [--rounds N] [--against REF]``.

Two project servers (``diemcau serve``), the same publisher (640x480 30 fps VP8 + Opus,
pre-encoded) and K raw-RTP subscribers as ``bench.sfu``; cases alternate between the two
servers, round after round, so drift on this shared machine hits both alike. By default the
baseline runs on the standard library's asyncio loop and the other with ``event_loop =
"uvloop"``; with ``--against REF`` the baseline is the code of git revision REF (checked out in a
temporary worktree, both on uvloop): a change measured against what it changes. Reported: server
CPU per case (median over rounds), the ratio of the two, and each one's cost per received and per
forwarded packet in ``bench.sfu``'s units. ``--window S`` measures S seconds per case (default
``bench.sfu``'s 5): CPU is read in 10 ms clock ticks, so at a publisher's ~145 packets a second
one tick in a 5 s window is 14 µs per received packet; 15 s or more resolves the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from bench.client import encode_opus, encode_vp8
from bench.harness import free_port, process, project_env, slope_through_origin, wait_http
from bench.sfu import WINDOW, CaseResult, Media, ProjectTarget, prepare_project, run_case
from signaling.media.adapter import restrict_host_addresses

KS: tuple[int | None, ...] = (None, 0, 1, 4, 8, 16)


def _costs(
    cases: dict[int | None, float], pps: dict[int | None, tuple[float, float]]
) -> dict[str, Any]:
    """µs of server CPU per received packet (publisher alone, idle subtracted) and per
    forwarded packet (slope over K ≥ 1, the publisher-alone case subtracted)."""
    idle, alone = cases.get(None), cases.get(0)
    out: dict[str, Any] = {}
    if idle is not None and alone is not None and pps[0][0]:
        out["us_per_received_packet"] = round((alone - idle) / 100 / pps[0][0] * 1e6, 1)
    if alone is not None:
        ks = [k for k in cases if k is not None and k >= 1]
        xs = [pps[k][1] for k in ks]
        ys = [(cases[k] - alone) / 100 for k in ks]
        if xs:
            out["us_per_forwarded_packet"] = round(slope_through_origin(xs, ys) * 1e6, 1)
    return out


def _label(k: int | None) -> str:
    return "idle" if k is None else f"k{k}"


@contextlib.contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """Git revision ``ref`` of this repository, checked out in a temporary folder."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="diemcau-ref-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", str(path), ref],
            check=True,
            capture_output=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(root), "worktree", "remove", "--force", str(path)],
                check=False,
                capture_output=True,
            )


async def run(rounds: int, against: str | None = None, window: float = WINDOW) -> dict[str, Any]:
    media = Media(video=encode_vp8(640, 480, 60, noisy=True), audio=encode_opus(1.0))
    base, other = ("asyncio", "uvloop") if against is None else (f"at {against}", "this tree")
    results: dict[str, list[CaseResult]] = {base: [], other: []}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="diemcau-loops-"))
        cwd = {base: stack.enter_context(worktree(against)) if against else None, other: None}
        dirs = {name: Path(tmp) / f"server{n}" for n, name in enumerate(results)}
        prepared = {name: prepare_project(d) for name, d in dirs.items()}
        ports = {name: free_port() for name in results}
        envs = {name: project_env(dirs[name], ports[name]) for name in results}
        for name in results:
            envs[name]["DIEMCAU_EVENT_LOOP"] = "uvloop"
        if against is None:
            envs[base]["DIEMCAU_EVENT_LOOP"] = "asyncio"
        procs = {
            name: stack.enter_context(process(["-m", "web.cli", "serve"], envs[name], cwd[name]))
            for name in results
        }
        stack.enter_context(restrict_host_addresses(("127.0.0.1",)))
        for name, proc in procs.items():
            await wait_http(f"http://127.0.0.1:{ports[name]}/healthz", proc)
        async with aiohttp.ClientSession() as session:
            targets = {
                name: ProjectTarget(
                    f"http://127.0.0.1:{ports[name]}",
                    procs[name].pid,
                    prepared[name][0],
                    prepared[name][1],
                    session,
                )
                for name in results
            }
            for number in range(rounds):
                for k in KS:
                    order = (base, other) if number % 2 == 0 else (other, base)
                    for name in order:
                        case = await run_case(targets[name], media, k, window)
                        results[name].append(case)
                        print(
                            f"round {number + 1} {name:>7} K={k}: server "
                            f"{case.server_cpu_pct:5.1f}%  fps min "
                            f"{min(case.fps) if case.fps else 0:5.1f}",
                            file=sys.stderr,
                        )
    command = f"python -m bench.loops --json --rounds {rounds} --window {window:g}"
    out: dict[str, Any] = {
        "command": command + (f" --against {against}" if against else ""),
        "rounds": rounds,
        "window_seconds": window,
    }
    medians: dict[str, dict[int | None, float]] = {}
    for name, cases in results.items():
        per_k: dict[int | None, float] = {}
        pps: dict[int | None, tuple[float, float]] = {}
        for k in KS:
            these = [c for c in cases if c.k == (-1 if k is None else k)]
            per_k[k] = statistics.median(c.server_cpu_pct for c in these)
            pps[k] = (
                statistics.median(c.received_pps for c in these),
                statistics.median(c.forwarded_pps for c in these),
            )
        medians[name] = per_k
        out[name] = {
            "server_cpu_pct": {
                ("idle" if k is None else f"k{k}"): round(v, 2) for k, v in per_k.items()
            },
            "min_fps": min((min(c.fps) for c in cases if c.fps), default=None),
            **_costs(per_k, pps),
        }
    out[f"ratio_cpu_{other.replace(' ', '_')}_over_baseline"] = {
        _label(k): round(medians[other][k] / medians[base][k], 2) for k in KS if medians[base][k]
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", help="a git revision: its code is the baseline")
    parser.add_argument(
        "--window",
        type=float,
        default=WINDOW,
        help="seconds of CPU measured per case (CPU is read in 10 ms ticks: longer is finer)",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.rounds, args.against, args.window))
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else result)


if __name__ == "__main__":
    main()
