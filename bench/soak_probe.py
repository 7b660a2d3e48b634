"""The server as ``bench.soak --probe`` runs it: ``diemcau``'s own command line, plus a SIGUSR1
handler that writes what the process holds to ``$DIEMCAU_SOAK_REPORT`` (JSON).

The report counts the objects the garbage collector tracks of the media, recording and server
packages by type (a peer, a track or a container kept after its meeting shows here), the
asyncio tasks alive, and — with ``PYTHONTRACEMALLOC`` set — the lines that allocated most since
the first report. Then it returns freed heap to the system (glibc's ``malloc_trim``) and reports
RSS before and after: what the trim gives back was the allocator's, not a leak.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import signal
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

PACKAGES = ("aiortc", "aioice", "av", "pylibsrtp", "signaling", "recordings", "sessions", "web")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Probe:
    def __init__(self, report: Path) -> None:
        self.report = report
        self.first: tracemalloc.Snapshot | None = None
        self.count = 0

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        try:
            result = self._report()
        except Exception as exc:  # a signal handler's exception would stop the server
            result = {"error": repr(exc)}
        self.count += 1
        result["report"] = self.count
        temporary = self.report.with_suffix(".tmp")
        temporary.write_text(json.dumps(result, ensure_ascii=False, indent=1))
        temporary.replace(self.report)

    def _report(self) -> dict[str, Any]:
        gc.collect()
        kinds: Counter[str] = Counter()
        for obj in gc.get_objects():
            kind = type(obj)
            module = kind.__dict__.get("__module__", getattr(kind, "__module__", ""))
            if isinstance(module, str) and module.split(".")[0] in PACKAGES:
                kinds[f"{module}.{kind.__qualname__}"] += 1
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:
            tasks = -1
        result: dict[str, Any] = {"objects": dict(kinds.most_common(60)), "tasks": tasks}
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            if self.first is None:
                self.first = snapshot
            result["grown_since_first"] = [
                {"where": str(stat.traceback[0]), "kib": round(stat.size_diff / 1024, 1)}
                for stat in snapshot.compare_to(self.first, "lineno")[:25]
            ]
            result["traced_mib"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
        result["rss_before_trim_mib"] = round(_rss_mib(), 1)
        started = time.perf_counter()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        result["trim_ms"] = round((time.perf_counter() - started) * 1000, 2)
        result["rss_after_trim_mib"] = round(_rss_mib(), 1)
        return result


def main() -> None:
    signal.signal(signal.SIGUSR1, Probe(Path(os.environ["DIEMCAU_SOAK_REPORT"])))
    from web.cli import main as cli

    sys.exit(cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
