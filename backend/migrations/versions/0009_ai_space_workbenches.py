"""ai space workbenches: workbenches, their members, approval requests, usage intervals,
the tenant's monthly budget and installed packages

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workbench",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("image", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("memory_gb", sa.Float(), nullable=False),
        sa.Column("storage_gb", sa.Float(), nullable=False),
        sa.Column("idle_timeout_s", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("compute_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=True),
        sa.Column("last_activity_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_by_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_workbench_tenant_name"),
    )
    with op.batch_alter_table("workbench", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workbench_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "workbench_budget",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("monthly_budget", sa.Float(), nullable=False),
        sa.Column("alerted_month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "workbench_approval",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("workbench_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("requested_by_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("exceeds", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workbench_id"],
            ["workbench.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workbench_approval", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workbench_approval_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_approval_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_approval_workbench_id"), ["workbench_id"], unique=False)

    op.create_table(
        "workbench_member",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("workbench_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("added_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("added_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workbench_id"],
            ["workbench.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workbench_id", "user_id", name="uq_workbench_member"),
    )
    with op.batch_alter_table("workbench_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workbench_member_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_member_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_member_workbench_id"), ["workbench_id"], unique=False)

    op.create_table(
        "workbench_package",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("workbench_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("requirement", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workbench_id"],
            ["workbench.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workbench_package", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workbench_package_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_package_workbench_id"), ["workbench_id"], unique=False)

    op.create_table(
        "workbench_usage",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("workbench_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("memory_gb", sa.Float(), nullable=False),
        sa.Column("storage_gb", sa.Float(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.ForeignKeyConstraint(
            ["workbench_id"],
            ["workbench.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workbench_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workbench_usage_started_at"), ["started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_usage_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_workbench_usage_workbench_id"), ["workbench_id"], unique=False)


def downgrade() -> None:
    # children before the workbench they point to; dropping a table drops its indexes
    for table in (
        "workbench_usage",
        "workbench_package",
        "workbench_member",
        "workbench_approval",
        "workbench_budget",
        "workbench",
    ):
        op.drop_table(table)
