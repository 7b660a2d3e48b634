"""Pages at the size of a province's register: ``python -m bench.pages [--json] [--postgres URL]``.

20,000 cases (with their deadlines) and 5,000 meetings; a leader signed in through the real app
(in process, on loopback) asks for the overview, the case list with filters and a case page,
each ``ROUNDS`` times, against ``/healthz`` in the same run as the baseline (the cost of a
request through the middlewares with no work behind it). p50 and p95 per page, per database.
Target: the overview's p95 under 200 ms on both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import insert, select, text

from sessions import db as database
from sessions import sites, users
from sessions.enums import (
    CaseStatus,
    CaseType,
    CompetentLevel,
    MeetingKind,
    MeetingMode,
    MeetingPurpose,
    MeetingStatus,
    Role,
)
from sessions.models import Case, Meeting, MeetingSite, Site
from sessions.settings import load_settings
from web.app import create_app

CASES, MEETINGS, ROUNDS = 20_000, 5_000, 40
PASSWORD = "mat-khau-do-kiem-2026"


async def _fill(url: str) -> None:
    rng = random.Random(3)
    engine = database.create_async(url)
    now = datetime.now(UTC)
    async with database.session_factory(engine, b"x" * 32)() as db:
        await sites.seed_sites(db, now)
        await db.flush()
        communes = [
            s.id for s in await db.scalars(select(Site).where(Site.kind != "provincial_office"))
        ]
        host = (await sites.by_code(db, sites.PROVINCIAL_OFFICE_CODE)).id  # type: ignore[union-attr]
        await users.create_user(
            db,
            username="chutich",
            full_name="Chủ tịch",
            password=PASSWORD,
            roles=[Role.CHAIR],
            at=now,
        )
        kinds = list(CaseType)
        statuses = [
            CaseStatus.RECEIVED,
            CaseStatus.ACCEPTED,
            CaseStatus.VERIFYING,
            CaseStatus.RESOLVED,
        ]
        rows = []
        for i in range(CASES):
            received = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
            rows.append(
                {
                    "reference": f"VV-{received.year}-{i + 1:05d}",
                    "title": f"Vụ việc số {i + 1} về đất đai và bồi thường",
                    "summary": "",
                    "case_type": rng.choice(kinds),
                    "is_crowd": rng.random() < 0.1,
                    "is_complex": rng.random() < 0.15,
                    "is_prolonged": rng.random() < 0.1,
                    "is_bypassing": rng.random() < 0.05,
                    "is_hotspot": rng.random() < 0.03,
                    "is_remote": rng.random() < 0.2,
                    "origin_site_id": rng.choice(communes),
                    "competent_level": CompetentLevel.PROVINCE,
                    "status": rng.choice(statuses),
                    "received_on": received,
                    "legal_hold": False,
                    "created_at": now,
                    "extensions": 0,
                    "due_on": received + timedelta(days=rng.randrange(10, 60)),
                    "due_rule": "complaint_resolve",
                }
            )
        for start in range(0, CASES, 2000):
            await db.execute(insert(Case), rows[start : start + 2000])
        case_ids = list(await db.scalars(select(Case.id)))
        meetings = []
        for i in range(MEETINGS):
            start_at = now - timedelta(days=rng.randrange(600))
            meetings.append(
                {
                    "reference": f"PH-{i + 1:05d}",
                    "case_id": rng.choice(case_ids),
                    "title": f"Đối thoại số {i + 1}",
                    "kind": MeetingKind.SCHEDULED,
                    "purpose": MeetingPurpose.DIALOGUE,
                    "mode": MeetingMode.ONLINE,
                    "planned_start": start_at,
                    "planned_end": start_at + timedelta(hours=2),
                    "status": MeetingStatus.ENDED,
                    "legal_basis": "",
                    "waiting_room": True,
                    "recording_policy": "always",
                    "quality_profile": "standard",
                    "created_at": now,
                }
            )
        await db.execute(insert(Meeting), meetings)
        meeting_ids = list(await db.scalars(select(Meeting.id)))
        await db.execute(
            insert(MeetingSite),
            [{"meeting_id": m, "site_id": host, "role": "host"} for m in meeting_ids],
        )
        await db.commit()
        if db.get_bind().dialect.name != "sqlite":
            await db.execute(text("ANALYZE"))
            await db.commit()
    await engine.dispose()


async def _measure(url: str, label: str, data_dir: Path) -> dict[str, Any]:
    settings = load_settings(
        environ={}, overrides={"data_dir": data_dir, "database_url": url, "log_level": "WARNING"}
    )
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address (loopback)
        async with aiohttp.ClientSession(
            base_url=str(server.make_url("")), cookie_jar=jar
        ) as client:
            page = await (await client.get("/login")).text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token is not None
            signed = await client.post(
                "/login",
                data={"username": "chutich", "password": PASSWORD, "csrf_token": token.group(1)},
                allow_redirects=False,
            )
            assert signed.status == 303, signed.status
            case_id = 12_345
            paths = {
                "baseline_healthz": "/healthz",
                "overview": "/overview",
                "overview_period_commune": "/overview?period=before&commune=5",
                "case_list_filtered": "/cases?type=KN&flag=complex&due=overdue",
                "case_page": f"/cases/{case_id}",
            }
            out: dict[str, Any] = {"database": label}
            for name, path in paths.items():
                times = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    async with client.get(path) as response:
                        await response.read()
                        assert response.status == 200, (path, response.status)
                    times.append(time.perf_counter() - started)
                q = statistics.quantiles(times, n=100)
                out[name] = {"p50_ms": round(q[49] * 1000, 1), "p95_ms": round(q[94] * 1000, 1)}
            base = out["baseline_healthz"]["p95_ms"]
            out["ratio_overview_over_baseline_p95"] = round(out["overview"]["p95_ms"] / base, 1)
            return out
    finally:
        await server.close()


async def run(postgres: str | None) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'pages.sqlite3'}"
        database.upgrade(database.create_sync(url))
        await _fill(url)
        results.append(await _measure(url, "sqlite", Path(folder) / "data"))
    if postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = database.create_sync(postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{postgres}{'&' if '?' in postgres else '?'}options=-csearch_path%3D{schema}"
        try:
            database.upgrade(database.create_sync(url))
            await _fill(url)
            with tempfile.TemporaryDirectory() as folder:
                results.append(await _measure(url, "postgresql", Path(folder)))
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    return {
        "cases": CASES,
        "meetings": MEETINGS,
        "rounds": ROUNDS,
        "results": results,
        "target": "overview p95 < 200 ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure on as well")
    args = parser.parse_args()
    print(
        json.dumps(
            asyncio.run(run(args.postgres)), ensure_ascii=False, indent=None if args.json else 2
        )
    )


if __name__ == "__main__":
    main()
