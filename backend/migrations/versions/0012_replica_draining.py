"""replicas drain before they are stopped on scale-down and rolling update

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployment_replica") as batch:
        batch.add_column(sa.Column("draining_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployment_replica") as batch:
        batch.drop_column("draining_since")
