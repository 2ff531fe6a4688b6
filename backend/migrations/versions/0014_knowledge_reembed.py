"""a knowledge base is re-embedded with another model into a new Chroma collection generation

The old generation keeps answering until the new one is full; then the model and the generation
switch together and the old collection is dropped.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_base") as batch:
        batch.add_column(sa.Column("collection_generation", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("reembed_model", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("reembed_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("reembed_progress", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column(
                "reembed_reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False, server_default=""
            )
        )
        batch.add_column(
            sa.Column("reembed_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("reembed_updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("knowledge_base") as batch:
        for column in (
            "reembed_updated_at",
            "reembed_by",
            "reembed_reason",
            "reembed_progress",
            "reembed_status",
            "reembed_model",
            "collection_generation",
        ):
            batch.drop_column(column)
