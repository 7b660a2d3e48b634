"""The case file (hồ sơ vụ việc) export: every meeting's finalised minutes (PDF/A as stored, and
DOCX) and amendments, attendance, recordings (or only their signed manifests), the manifests and
the case's audit excerpt, in one archive with a signed index (``recordings.bundle``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy.ext.asyncio import AsyncSession

from recordings import bundle, catalog
from recordings.store import RecordingStore, UnsafePath
from sessions import audit, cases, meetings, minutes, notices
from sessions.enums import MeetingStatus, MinutesStatus, RecordingStatus
from sessions.models import Case
from sessions.settings import Settings
from web import documents

EXPORTED = (RecordingStatus.COMPLETE, RecordingStatus.INTERRUPTED)


async def entries_for(
    db: AsyncSession,
    case: Case,
    *,
    store: RecordingStore,
    settings: Settings,
    env: jinja2.Environment,
    translations: Any,
    with_media: bool,
    renderer: concurrent.futures.Executor,
) -> list[bundle.Entry]:
    letterhead = documents.Letterhead(settings.issuing_body, settings.issuing_office)
    entries: list[bundle.Entry] = []
    index: dict[str, Any] = {
        "case": case.reference,
        "title": case.title,
        "type": case.case_type.value,
        "meetings": [],
    }
    meeting_ids = []
    for listed in sorted(case.meetings, key=lambda m: m.planned_start):
        if listed.status is MeetingStatus.CANCELLED:
            continue
        meeting = await meetings.get_meeting(db, listed.id)
        meeting_ids.append(meeting.id)
        folder = f"phien/{meeting.reference}"
        files: list[dict[str, str]] = []

        def add(
            name: str,
            what: str,
            folder: str = folder,
            files: list[dict[str, str]] = files,
            **kwargs: Any,
        ) -> None:
            entries.append(bundle.Entry(f"{folder}/{name}", **kwargs))
            files.append({"path": f"{folder}/{name}", "what": what})

        written = await minutes.minutes_of(db, meeting.id)
        if written is not None and written.status is MinutesStatus.FINALISED:
            for version in written.versions:
                if version.kind not in ("final", "amendment"):
                    continue
                stem = f"bien-ban-v{version.version}"
                stored = settings.data_dir / "minutes" / meeting.reference / f"{stem}.pdf"
                if version.kind == "final" and stored.exists():
                    add(f"{stem}.pdf", "minutes PDF/A (as finalised)", source=stored)
                else:
                    html = documents.minutes_html(
                        env,
                        version,
                        translations=translations,
                        zone=settings.zone,
                        letterhead=letterhead,
                        sha256=version.sha256,
                        screen=False,
                    )
                    add(
                        f"{stem}.pdf",
                        f"minutes PDF/A ({version.kind})",
                        data=await documents.pdf(html, renderer),
                    )
                docx = await documents.docx(version, translations, settings.zone, letterhead)
                add(f"{stem}.docx", f"minutes DOCX ({version.kind})", data=docx)
                add(
                    f"{stem}.json",
                    f"minutes content ({version.kind}, sha256 {version.sha256})",
                    data=json.dumps(version.content, ensure_ascii=False, indent=1).encode(),
                )
        if written is not None:
            for scan in await minutes.scans_of(db, written):
                scanned = settings.data_dir / "minutes" / scan.relative_path
                if scanned.exists():
                    where = scan.site.name if scan.site else "all endpoints"
                    add(f"ban-ky/{scanned.name}", f"signed copy, scanned ({where})", source=scanned)
        notice = await notices.notice_of(db, meeting.id)
        notice_pdf = settings.data_dir / "minutes" / meeting.reference / "thong-bao-ket-luan.pdf"
        if notice is not None and notice.signed_at is not None and notice_pdf.exists():
            add(
                "thong-bao-ket-luan.pdf",
                f"conclusion notice {notice.number} (signed, sha256 {notice.sha256})",
                source=notice_pdf,
            )
        add(
            "diem-danh.csv",
            "attendance",
            data=_attendance_csv(await meetings.attendance_of(db, meeting.id)),
        )
        rows = await catalog.rows_for(db, meeting.id)
        if with_media:
            for row in rows:
                if row.status not in EXPORTED:
                    continue
                try:
                    path = store.resolve(row.relative_path)
                except UnsafePath:
                    continue
                if path.exists():
                    add(
                        f"ghi-hinh/{path.name}",
                        f"recording #{row.id} ({row.participant_label})",
                        source=path,
                        compress=False,
                    )
        directory = store.resolve(store.meeting_dir(case.reference, meeting.reference))
        for manifest in sorted(directory.glob("manifest*.json*")) if directory.exists() else []:
            add(f"manifest/{manifest.name}", "recording manifest (signed)", source=manifest)
        index["meetings"].append(
            {
                "reference": meeting.reference,
                "title": meeting.title,
                "planned_start": meeting.planned_start.isoformat(),
                "status": meeting.status.value,
                "minutes_sha256": written.sha256 if written else None,
                "minutes_pdf_sha256": written.pdf_sha256 if written else None,
                "recordings": [
                    {
                        "id": r.id,
                        "label": r.participant_label,
                        "sha256": r.sha256,
                        "status": r.status.value,
                    }
                    for r in rows
                ],
                "files": files,
            }
        )
    for document in await cases.documents_of(db, case.id):
        filed = settings.data_dir / "cases" / document.relative_path
        if filed.exists():
            entries.append(bundle.Entry(f"tai-lieu/{filed.name}", source=filed))
            index.setdefault("documents", []).append(
                {
                    "path": f"tai-lieu/{filed.name}",
                    "title": document.title,
                    "sha256": document.sha256,
                }
            )
    events = await audit.events_of_case(db, case.id, meeting_ids)
    entries.append(
        bundle.Entry(
            "nhat-ky.json",
            data=json.dumps(
                [
                    {
                        "seq": e.seq,
                        "at": e.at.isoformat(),
                        "actor": e.actor_id,
                        "action": e.action,
                        "object": f"{e.object_type}:{e.object_id}",
                        "details": e.details,
                        "hash": e.hash,
                    }
                    for e in events
                ],
                ensure_ascii=False,
                indent=1,
            ).encode(),
        )
    )
    index["audit"] = "nhat-ky.json"
    entries.insert(
        0, bundle.Entry("index.json", data=json.dumps(index, ensure_ascii=False, indent=1).encode())
    )
    return entries


def _attendance_csv(rows: list[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "role", "joined_at", "left_at", "outcome", "interruptions"])
    for a in rows:
        writer.writerow(
            [
                a.display_name,
                a.role_label,
                a.joined_at.isoformat() if a.joined_at else "",
                a.left_at.isoformat() if a.left_at else "",
                a.outcome.value,
                a.interruptions,
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()  # a BOM, so spreadsheets read UTF-8


async def export(
    db: AsyncSession,
    case: Case,
    target: Path,
    *,
    store: RecordingStore,
    settings: Settings,
    env: jinja2.Environment,
    translations: Any,
    with_media: bool,
    renderer: concurrent.futures.Executor,
    at: datetime,
) -> int:
    entries = await entries_for(
        db,
        case,
        store=store,
        settings=settings,
        env=env,
        translations=translations,
        with_media=with_media,
        renderer=renderer,
    )
    return await asyncio.to_thread(
        bundle.write,
        target,
        entries,
        store,
        case_reference=case.reference,
        exported_at=at.isoformat(),
    )
