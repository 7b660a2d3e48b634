"""Endpoints (điểm cầu): the two offices and the commune-level units, seeded from reference data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.enums import SiteKind
from sessions.models import Site

PROVINCIAL_OFFICE_CODE = "TCD-LS"
CENTRAL_OFFICE_CODE = "TCD-TW"


@dataclass(frozen=True)
class SiteSeed:
    code: str
    name: str
    kind: SiteKind
    former_district: str | None = None
    address: str | None = None


OFFICES = (
    SiteSeed(
        PROVINCIAL_OFFICE_CODE,
        "Trụ sở Tiếp công dân tỉnh Lạng Sơn",
        SiteKind.PROVINCIAL_OFFICE,
        address="Ban Tiếp công dân tỉnh, UBND tỉnh Lạng Sơn",
    ),
    SiteSeed(
        CENTRAL_OFFICE_CODE,
        "Trụ sở Tiếp công dân Trung ương",
        SiteKind.CENTRAL_OFFICE,
        address="Số 1 Ngô Thì Nhậm, Hà Đông, Hà Nội",
    ),
)


def commune_seeds() -> list[SiteSeed]:
    """The 65 commune-level units of Lạng Sơn (2025 list), from the packaged CSV."""
    text = resources.files("sessions").joinpath("data/lang-son-communes.csv").read_text("utf-8")
    seeds = []
    for row in csv.DictReader(text.splitlines()):
        kind = SiteKind.WARD if row["kind"] == "phuong" else SiteKind.COMMUNE
        seeds.append(
            SiteSeed(
                code=row["code"],
                name=f"UBND {row['name']}",
                kind=kind,
                former_district=row["former_district_hint"] or None,
            )
        )
    return seeds


async def seed_sites(db: AsyncSession, at: datetime) -> int:
    """Insert the reference endpoints that are missing; returns how many were added."""
    existing = set(await db.scalars(select(Site.code)))
    added = 0
    for seed in (*OFFICES, *commune_seeds()):
        if seed.code in existing:
            continue
        db.add(
            Site(
                code=seed.code,
                name=seed.name,
                kind=seed.kind,
                former_district=seed.former_district,
                address=seed.address,
                created_at=at,
            )
        )
        added += 1
    await db.flush()
    return added


async def by_code(db: AsyncSession, code: str) -> Site | None:
    return await db.scalar(select(Site).where(Site.code == code))
