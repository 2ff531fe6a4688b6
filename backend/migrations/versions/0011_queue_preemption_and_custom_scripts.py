"""queue preemption, custom-script jobs and replica health checks

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_queue") as batch:
        batch.add_column(sa.Column("preempt_lower_priority", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("training_job") as batch:
        batch.add_column(sa.Column("script", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("deployment_replica") as batch:
        batch.add_column(sa.Column("failed_checks", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("deployment_replica") as batch:
        batch.drop_column("failed_checks")
    with op.batch_alter_table("training_job") as batch:
        batch.drop_column("script")
    with op.batch_alter_table("job_queue") as batch:
        batch.drop_column("preempt_lower_priority")
