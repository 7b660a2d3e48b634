"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = str(Path(__file__).with_name("migrations"))


def _url(url: str, *, asynchronous: bool) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite" if asynchronous else "sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _prepare_sqlite_dir(url: URL) -> None:
    """The database holds password and session hashes: it and its WAL are the owner's only.
    SQLite gives its -wal and -shm files the mode of the database file, so the file is made
    0600 before SQLite first opens it (and tightened if an older version left it 0644)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    path = Path(url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_mode & 0o077:
            companion.chmod(0o600)


def create_async(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = _url(url, asynchronous=True)
    _prepare_sqlite_dir(parsed)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # Under aiosqlite each connection is a thread and three file descriptors: keep one at
        # rest; those a burst opens beyond it are closed when returned (bench.soak).
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 15)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_sync(url: str, **kwargs: Any) -> Engine:
    parsed = _url(url, asynchronous=False)
    _prepare_sqlite_dir(parsed)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine, audit_key: bytes) -> async_sessionmaker[AsyncSession]:
    """Sessions that carry the audit key (``sessions.audit`` keys the chain with it; it never
    goes into the database)."""
    return async_sessionmaker(engine, expire_on_commit=False, info={"audit_key": audit_key})


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` using ``engine``'s connection.

    On SQLite, foreign keys are switched off while migrating (a table rebuild would otherwise
    fail on rows that reference it) and checked as a whole afterwards.
    """
    cfg = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
            if broken:
                raise RuntimeError(f"migration left rows with broken references: {broken[:5]}")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


# Search indexes each backend builds its own way (migration 0011): not in the models.
DIALECT_ONLY = ("search_fts", "search_documents_body_trgm")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For autogenerate and the models-versus-migrations check: skip the dialect-only objects."""
    return not (name or "").startswith(DIALECT_ONLY)
