"""Migrations: head matches the models, and upgrading a populated database loses nothing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from sessions import db as database
from sessions.models import Base
from tests.conftest import PG_ENV, REQUIRE_PG_ENV


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = database.create_sync(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield engine
        engine.dispose()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        message = f"PostgreSQL tests need {PG_ENV}"
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    schema = f"diemcau_mig_{uuid.uuid4().hex[:10]}"
    admin = database.create_sync(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = database.create_sync(f"{base}?options=-csearch_path%3D{schema}")
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_head_matches_models(empty_engine: Engine) -> None:
    database.upgrade(empty_engine)
    assert database.current_revision(empty_engine) == database.head_revision()
    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": database.include_name})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


# Rows valid at the first revision; later revisions must carry them forward.
FIRST_REVISION_ROWS = [
    (
        "INSERT INTO sites (id, code, name, kind, active, created_at) VALUES "
        "(1, 'TCD-LS', 'Trụ sở Tiếp công dân tỉnh Lạng Sơn', 'provincial_office', true, "
        "'2026-03-01 01:00:00'), "
        "(2, '05977', 'UBND Phường Đông Kinh', 'ward', true, '2026-03-01 01:00:00')"
    ),
    (
        "INSERT INTO users (id, username, full_name, password_hash, must_change_password, active, "
        "created_at) VALUES (1, 'canbo', 'Hoàng Thị Mai', 'x', false, true, '2026-03-01 01:00:00')"
    ),
    "INSERT INTO user_roles (id, user_id, role) VALUES (1, 1, 'officer')",
    (
        "INSERT INTO cases (id, reference, title, summary, case_type, is_crowd, is_complex, "
        "is_prolonged, is_bypassing, is_hotspot, is_remote, competent_level, status, received_on, "
        "created_at, origin_site_id) VALUES (1, 'VV-2026-0001', 'Khiếu nại về đất', '', 'KN', "
        "false, true, false, false, false, false, 'province', 'received', '2026-02-20', "
        "'2026-03-01 01:00:00', 2)"
    ),
    (
        "INSERT INTO meetings (id, reference, case_id, title, kind, purpose, mode, planned_start, "
        "planned_end, status, legal_basis, waiting_room, recording_policy, quality_profile, "
        "created_at) VALUES (1, 'PH-1', 1, 'Đối thoại', 'scheduled', 'dialogue', 'online', "
        "'2026-03-12 01:00:00', '2026-03-12 03:00:00', 'scheduled', '', true, 'always', "
        "'standard', '2026-03-01 01:00:00')"
    ),
    (
        "INSERT INTO meeting_sites (id, meeting_id, site_id, role) "
        "VALUES (1, 1, 1, 'host'), (2, 1, 2, 'participant')"
    ),
    (
        "INSERT INTO recordings (id, meeting_id, participant_label, relative_path, media_type, "
        "status, started_at) VALUES (1, 1, 'UBND Phường Đông Kinh', 'vv/ph/a.webm', 'video/webm', "
        "'complete', '2026-03-12 01:00:00')"
    ),
]
COUNTS = {
    "sites": 2,
    "users": 1,
    "user_roles": 1,
    "cases": 1,
    "meetings": 1,
    "meeting_sites": 2,
    "recordings": 1,
}


def test_upgrade_from_first_revision_keeps_rows(empty_engine: Engine) -> None:
    first = database.revisions_oldest_first()[0]
    database.upgrade(empty_engine, first)
    with empty_engine.begin() as conn:
        for statement in FIRST_REVISION_ROWS:
            conn.execute(text(statement))
    database.upgrade(empty_engine)
    assert database.current_revision(empty_engine) == database.head_revision()
    with empty_engine.connect() as conn:
        for table, count in COUNTS.items():
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == count, table
        title = conn.execute(text("SELECT title FROM cases WHERE id = 1")).scalar()
        assert title == "Khiếu nại về đất"
        kind = conn.execute(text("SELECT kind FROM recordings WHERE id = 1")).scalar()
        assert kind == "participant"  # filled in for rows older than the column
    assert "audit_head" in inspect(empty_engine).get_table_names()


def test_stored_words_become_message_ids(empty_engine: Engine) -> None:
    """0009: notices keep their sentence as the message; server-chosen role labels map back to
    their msgids, while a label someone typed stays as typed."""
    database.upgrade(empty_engine, "0008")
    with empty_engine.begin() as conn:
        for statement in FIRST_REVISION_ROWS[:5]:
            conn.execute(text(statement))
        conn.execute(
            text(
                "INSERT INTO notifications (id, user_id, kind, text, dedupe_key, created_at) "
                "VALUES (1, 1, 'task', 'Phòng họp đã mở: Đối thoại', 'k1', '2026-03-01 01:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO attendances (id, meeting_id, site_id, display_name, role_label, "
                "outcome, interruptions) VALUES "
                "(1, 1, 1, 'Trụ sở', 'Điểm cầu chính', 'absent', 0), "
                "(2, 1, 2, 'Ông Sáng', 'Trưởng thôn', 'present', 0)"
            )
        )
    database.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        notice = conn.execute(text("SELECT message, params FROM notifications")).one()
        assert notice[0] == "Phòng họp đã mở: Đối thoại"
        rows = conn.execute(text("SELECT id, role_label FROM attendances")).all()
        labels = {int(row[0]): str(row[1]) for row in rows}
    assert labels == {1: "Host endpoint", 2: "Trưởng thôn"}
    assert "text" not in {c["name"] for c in inspect(empty_engine).get_columns("notifications")}
