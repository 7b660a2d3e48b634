"""search_documents: cases and minutes as folded text, indexed by FTS5 on SQLite and by a
trigram index on PostgreSQL

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 02:40:00

Existing cases are indexed by the server at its next start (``search.reindex``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("shown", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_search_documents_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meetings.id"], name=op.f("fk_search_documents_meeting_id_meetings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_documents")),
        sa.UniqueConstraint("kind", "object_id", name=op.f("uq_search_documents_kind")),
    )
    op.create_index(
        op.f("ix_search_documents_case_id"), "search_documents", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_search_documents_meeting_id"), "search_documents", ["meeting_id"], unique=False
    )
    if op.get_bind().dialect.name == "sqlite":
        # rowid = search_documents.id; the folded text is already without marks.
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(body, tokenize='unicode61')")
    else:
        # The extension lives in public (one per database), whatever the search path.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        op.execute(
            "CREATE INDEX search_documents_body_trgm ON search_documents "
            "USING gin (body public.gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS search_fts")
    else:
        op.execute("DROP INDEX IF EXISTS search_documents_body_trgm")
    op.drop_index(op.f("ix_search_documents_meeting_id"), table_name="search_documents")
    op.drop_index(op.f("ix_search_documents_case_id"), table_name="search_documents")
    op.drop_table("search_documents")
