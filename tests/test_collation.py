"""Vietnamese alphabetical order and the endpoint lists that use it."""

from __future__ import annotations

from sessions.collation import vietnamese_key
from sessions.enums import SiteKind
from sessions.models import Site
from sessions.sites import reading_order


def test_letters_of_their_own_and_tones_second() -> None:
    names = [
        "Vũ Lễ",
        "Vạn Linh",
        "Bình Gia",
        "Bắc Sơn",
        "Ba Sơn",
        "Đồng Đăng",
        "Dân Chủ",
        "Ái Quốc",
    ]
    assert sorted(names, key=vietnamese_key) == [
        "Ái Quốc",
        "Ba Sơn",
        "Bắc Sơn",  # ă after a
        "Bình Gia",
        "Dân Chủ",
        "Đồng Đăng",  # đ after d
        "Vạn Linh",  # a before u, whatever the tones
        "Vũ Lễ",
    ]
    # The same letters: tones decide (none, huyền, sắc, hỏi, ngã, nặng).
    assert sorted(["ma", "mạ", "mã", "mả", "má", "mà"], key=vietnamese_key) == [
        "ma",
        "mà",
        "má",
        "mả",
        "mã",
        "mạ",
    ]
    # Composed and decomposed input sort alike; case does not matter.
    assert vietnamese_key("Đông Kinh")[:2] == vietnamese_key("đông kinh")[:2]
    assert vietnamese_key("Nguye\u0302\u0303n")[:2] == vietnamese_key("Nguyễn")[:2]


def test_endpoints_are_grouped_then_alphabetical() -> None:
    def site(name: str, kind: SiteKind) -> Site:
        return Site(code=name, name=name, kind=kind)

    found = [
        site("UBND Xã Vũ Lễ", SiteKind.COMMUNE),
        site("Trụ sở Tiếp công dân Trung ương", SiteKind.CENTRAL_OFFICE),
        site("UBND Phường Đông Kinh", SiteKind.WARD),
        site("UBND Xã Vạn Linh", SiteKind.COMMUNE),
        site("UBND Xã Bắc Sơn", SiteKind.COMMUNE),
        site("Trụ sở tiếp công dân tỉnh", SiteKind.PROVINCIAL_OFFICE),
    ]
    assert [s.name for s in reading_order(found)] == [
        "Trụ sở tiếp công dân tỉnh",
        "Trụ sở Tiếp công dân Trung ương",
        "UBND Xã Bắc Sơn",
        "UBND Phường Đông Kinh",
        "UBND Xã Vạn Linh",
        "UBND Xã Vũ Lễ",
    ]
