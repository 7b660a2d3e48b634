"""Minutes benchmark: ``python -m bench.minutes [--json] [--postgres URL]``.

1. **PDF/A render** of a 20-page minutes (WeasyPrint on a worker thread, as the server does),
   against a 1-page minutes in the same run; and the event loop's longest stall while it
   renders, against the same loop idle (the room must stay live).
2. **Search** over 10,000 minutes (plus their cases' documents): p50 and p95 of 200 queries
   through ``sessions.search`` on SQLite (FTS5) and, given ``--postgres``, PostgreSQL (trigram
   index), each against a full scan of the same table in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import io
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pypdf
from sqlalchemy import insert, text, true

from sessions import collation, minutes, search
from sessions import db as database
from sessions.models import MinutesVersion, SearchDocument
from sessions.settings import load_settings
from web import documents, templating
from web.i18n import load_translations

WORDS = (
    "đối",
    "thoại",
    "khiếu",
    "nại",
    "tố",
    "cáo",
    "bồi",
    "thường",
    "thu",
    "hồi",
    "đất",
    "rừng",
    "ranh",
    "giới",
    "xã",
    "phường",
    "thôn",
    "bản",
    "hộ",
    "dân",
    "giá",
    "đất",
    "diện",
    "tích",
    "quyết",
    "định",
    "giải",
    "quyết",
    "lần",
    "đầu",
    "lần",
    "hai",
    "kiến",
    "nghị",
    "phản",
    "ánh",
    "đường",
    "giao",
    "thông",
    "trường",
    "học",
    "trạm",
    "y",
    "tế",
    "điện",
    "nước",
    "chính",
    "sách",
    "hỗ",
    "trợ",
    "tái",
    "định",
    "cư",
    "sổ",
    "đỏ",
    "giấy",
    "chứng",
    "nhận",
)
DOCUMENTS = 10_000
QUERIES = 200


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _version(rng: random.Random, pages: int) -> MinutesVersion:
    """A dialogue's minutes of about ``pages`` pages (some 330 words a page)."""
    opinions = [
        {"who": f"Người tham gia {i + 1}", "text": _words(rng, 160), "at": 60.0 * i}
        for i in range(max(1, pages * 4 - 3))
    ]
    draft = minutes.MinutesDraft.parse(
        {
            "kind": "dialogue",
            "instance": "first",
            "number": "01/BB-BTCD",
            "place": "Trụ sở Tiếp công dân tỉnh Lạng Sơn",
            "issues": _words(rng, 120),
            "verification": _words(rng, 120),
            "agreed": _words(rng, 60),
            "outstanding": _words(rng, 60),
            "copies": 2,
            "opinions": opinions,
            "signatures": [
                {"who": f"Người ký {i}", "role": "Participant", "state": "signed", "reason": ""}
                for i in range(6)
            ],
        }
    )
    facts = {
        "reference": "PH-20260310-0001",
        "case": "VV-2026-0001",
        "purpose": "dialogue",
        "started_at": None,
        "ended_at": None,
        "legal_basis": "Luật Khiếu nại 2011, Điều 30",
        "chair": "Lương Văn Bình",
        "chair_position": "Phó Chủ tịch UBND tỉnh",
        "secretary": "Vi Thị Lan",
        "title": "Đối thoại giải quyết khiếu nại về đất đai",
        "planned_start": "2026-03-10T01:00:00+00:00",
        "planned_end": "2026-03-10T03:00:00+00:00",
        "endpoints": [
            {
                "name": "Trụ sở Tiếp công dân tỉnh Lạng Sơn",
                "role": "Host endpoint",
                "official": "Lương Văn Bình",
            }
        ],
        "invitees": [],
        "attendance": [],
        "interruptions": [],
        "recordings": [],
    }
    content = draft.as_content(facts)
    return MinutesVersion(version=1, content=content, sha256="0" * 64, kind="draft")


async def _render(html: str, pool: concurrent.futures.Executor) -> tuple[float, float, int]:
    """(seconds to render, the loop's longest stall meanwhile, pages)."""
    stall = 0.0
    done = False

    async def ticker() -> None:
        nonlocal stall
        while not done:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stall = max(stall, time.perf_counter() - before - 0.01)

    watch = asyncio.create_task(ticker())
    started = time.perf_counter()
    pdf = await documents.pdf(html, pool)
    elapsed = time.perf_counter() - started
    done = True
    await watch
    return elapsed, stall, len(pypdf.PdfReader(io.BytesIO(pdf)).pages)


async def _idle_stall(seconds: float) -> float:
    stall = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        stall = max(stall, time.perf_counter() - before - 0.01)
    return stall


async def pdf_case(rounds: int) -> dict[str, Any]:
    rng = random.Random(1)
    env = templating.create_environment()
    vi = load_translations()["vi"]
    letterhead = documents.Letterhead("UBND TỈNH LẠNG SƠN", "BAN TIẾP CÔNG DÂN TỈNH")
    zone = load_settings(
        environ={}, create_secrets=False, overrides={"data_dir": Path(tempfile.gettempdir())}
    ).zone

    def html(pages: int) -> str:
        return documents.minutes_html(
            env,
            _version(rng, pages),
            translations=vi,
            zone=zone,
            letterhead=letterhead,
            sha256=None,
            screen=False,
        )

    long, short = html(20), html(1)
    pool = documents.renderer()
    try:
        await _render(short, pool)  # warm-up: the worker's start, fonts, WeasyPrint's imports
        results: dict[str, list[float]] = {"long": [], "short": [], "stall": []}
        pages = 0
        for _ in range(rounds):
            seconds, stall, pages = await _render(long, pool)
            results["long"].append(seconds)
            results["stall"].append(stall)
            results["short"].append((await _render(short, pool))[0])
    finally:
        pool.shutdown()
    idle = await _idle_stall(2.0)
    long_s = statistics.median(results["long"])
    short_s = statistics.median(results["short"])
    return {
        "pages": pages,
        "render_s_median": round(long_s, 3),
        "render_s_max": round(max(results["long"]), 3),
        "baseline_1_page_s": round(short_s, 3),
        "ratio_20_over_1_page": round(long_s / short_s, 2),
        "loop_stall_ms_while_rendering": round(max(results["stall"]) * 1000, 1),
        "loop_stall_ms_idle": round(idle * 1000, 1),
        "target": "20 pages in < 3 s, off the event loop",
    }


async def search_case(url: str, label: str) -> dict[str, Any]:
    rng = random.Random(2)
    engine = database.create_async(url)
    now = datetime.now(UTC)
    async with database.session_factory(engine, b"x" * 32)() as db:
        rows = []
        for i in range(DOCUMENTS):
            body = _words(rng, 300)
            shown = collation.shown(body)
            rows.append(
                {
                    "kind": "minutes",
                    "object_id": i + 1,
                    "title": f"Biên bản {i}",
                    "shown": shown,
                    "body": collation.fold(shown),
                    "updated_at": now,
                }
            )
        await db.execute(insert(SearchDocument), rows)
        if db.get_bind().dialect.name == "sqlite":
            await db.execute(
                text("INSERT INTO search_fts (rowid, body) SELECT id, body FROM search_documents")
            )
        else:
            await db.execute(text("ANALYZE search_documents"))
        await db.commit()
        queries = [" ".join(rng.sample(WORDS, 2)) for _ in range(QUERIES)]
        indexed, scanned = [], []
        for q in queries:
            started = time.perf_counter()
            await search.search(db, q, cases_visible=true(), meetings_visible=true(), limit=50)
            indexed.append(time.perf_counter() - started)
            terms = search._terms(q)
            condition = " AND ".join(f"shown_folded LIKE :t{i}" for i in range(len(terms)))
            started = time.perf_counter()
            await db.execute(
                text(
                    "SELECT id FROM (SELECT id, lower(shown) AS shown_folded, updated_at "
                    f"FROM search_documents) s WHERE {condition} ORDER BY updated_at DESC LIMIT 50"
                ),
                {f"t{i}": f"%{t}%" for i, t in enumerate(terms)},
            )
            scanned.append(time.perf_counter() - started)
    await engine.dispose()

    def p(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1000, 2)

    return {
        "database": label,
        "documents": DOCUMENTS,
        "queries": QUERIES,
        "p50_ms": p(indexed, 50),
        "p95_ms": p(indexed, 95),
        "baseline_full_scan_p95_ms": p(scanned, 95),
        "ratio_scan_over_index_p95": round(p(scanned, 95) / max(p(indexed, 95), 0.01), 2),
        "target": "p95 < 100 ms",
    }


async def run(postgres: str | None, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {"pdf": await pdf_case(rounds), "search": []}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        database.upgrade(database.create_sync(url))
        out["search"].append(await search_case(url, "sqlite (FTS5)"))
    if postgres:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = database.create_sync(postgres)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{postgres}{'&' if '?' in postgres else '?'}options=-csearch_path%3D{schema}"
        try:
            database.upgrade(database.create_sync(url))
            out["search"].append(await search_case(url, "postgresql (pg_trgm)"))
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON only")
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure search on as well")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    out = asyncio.run(run(args.postgres, args.rounds))
    print(json.dumps(out, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
