"""retrieval quality: knowledge base languages, fusion weight, rerank and own vocabulary; chunk
language and character offsets

Existing chunks get their language from their text here; their offsets stay empty until the
background pass (knowledge/offsets.py) finds them in their documents.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 01:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def _language(text: str) -> str:
    """The rule of knowledge/languages.detect as it stood when this revision was written."""
    han, latin = len(_HAN.findall(text)), len(_LATIN_WORD.findall(text))
    if han and han >= latin:
        return "zh"
    return "en" if latin else "other"


def upgrade() -> None:
    with op.batch_alter_table("knowledge_base") as batch:
        batch.add_column(sa.Column("languages", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("vector_weight", sa.Float(), nullable=False, server_default="0.5"))
        batch.add_column(sa.Column("rerank", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("vocabulary_terms", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("vocabulary_synonyms", sa.JSON(), nullable=False, server_default="[]"))
        status = sqlmodel.sql.sqltypes.AutoString(length=16)
        batch.add_column(sa.Column("text_index_status", status, nullable=False, server_default=""))
        batch.add_column(sa.Column("text_index_progress", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column(
                "text_index_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False, server_default=""
            )
        )
    with op.batch_alter_table("knowledge_chunk") as batch:
        batch.add_column(
            sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("start_char", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("end_char", sa.Integer(), nullable=True))
    chunks = sa.table("knowledge_chunk", sa.column("id", sa.String), sa.column("text", sa.Text), sa.column("language"))
    connection = op.get_bind()
    last = ""
    while True:  # in pages, so a large table is never held in memory at once
        rows = connection.execute(
            sa.select(chunks.c.id, chunks.c.text).where(chunks.c.id > last).order_by(chunks.c.id).limit(1000)
        ).all()
        if not rows:
            break
        for chunk_id, text in rows:
            connection.execute(chunks.update().where(chunks.c.id == chunk_id).values(language=_language(text or "")))
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("knowledge_chunk") as batch:
        for column in ("end_char", "start_char", "language"):
            batch.drop_column(column)
    with op.batch_alter_table("knowledge_base") as batch:
        for column in (
            "text_index_reason",
            "text_index_progress",
            "text_index_status",
            "vocabulary_synonyms",
            "vocabulary_terms",
            "rerank",
            "languages",
            "vector_weight",
        ):
            batch.drop_column(column)
