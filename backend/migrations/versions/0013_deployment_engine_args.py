"""a vLLM service's own engine arguments (checked against a list)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 11:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment") as batch:
        batch.add_column(sa.Column("engine_args", sa.JSON(), nullable=True))  # none yet on older services


def downgrade() -> None:
    with op.batch_alter_table("deployment") as batch:
        batch.drop_column("engine_args")
