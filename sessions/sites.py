"""Endpoints (điểm cầu): the two offices and the commune-level units, seeded from reference data."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sessions.collation import vietnamese_key
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


_GROUP = {
    SiteKind.PROVINCIAL_OFFICE: 0,
    SiteKind.CENTRAL_OFFICE: 1,
    SiteKind.COMMUNE: 2,
    SiteKind.WARD: 2,
}
_UNIT_PREFIXES = ("UBND Xã ", "UBND Phường ", "UBND xã ", "UBND phường ")


def place_name(site: Site) -> str:
    """A commune's or ward's own name, without "UBND Xã" / "UBND Phường"."""
    for prefix in _UNIT_PREFIXES:
        if site.name.startswith(prefix):
            return site.name.removeprefix(prefix)
    return site.name


def reading_order(found: Iterable[Site]) -> list[Site]:
    """Endpoints as every list shows them: the provincial office, the central office, then the
    communes and wards together in Vietnamese alphabetical order of their own names."""
    return sorted(found, key=lambda s: (_GROUP[s.kind], vietnamese_key(place_name(s))))


OFFICE_KINDS = (SiteKind.PROVINCIAL_OFFICE, SiteKind.CENTRAL_OFFICE)
COMMUNE_KINDS = (SiteKind.COMMUNE, SiteKind.WARD)


async def listed(
    db: AsyncSession, kinds: Iterable[SiteKind] | None = None, *, active_only: bool = False
) -> list[Site]:
    """Endpoints (of these kinds) in reading order."""
    query = select(Site)
    if kinds is not None:
        query = query.where(Site.kind.in_(list(kinds)))
    if active_only:
        query = query.where(Site.active.is_(True))
    return reading_order(await db.scalars(query))
