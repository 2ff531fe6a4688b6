"""training jobs, pools and queues

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:34:22.491030
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resource_pool",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("compute", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("node_selector", sa.JSON(), nullable=False),
        sa.Column("tolerations", sa.JSON(), nullable=False),
        sa.Column("kueue_queue", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "job_queue",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("pool_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("nominal_gpus", sa.Integer(), nullable=False),
        sa.Column("borrowing_limit_gpus", sa.Integer(), nullable=False),
        sa.Column("nominal_cpu", sa.Float(), nullable=False),
        sa.Column("per_user_gpus", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["resource_pool.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_queue_tenant_name"),
    )
    with op.batch_alter_table("job_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_queue_pool_id"), ["pool_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_queue_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "training_job",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("base_model_version_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("dataset_version_ids", sa.JSON(), nullable=False),
        sa.Column("eval_dataset_version_ids", sa.JSON(), nullable=False),
        sa.Column("preset", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("gpu_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory_gb", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("queue_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("queue_position", sa.Integer(), nullable=False),
        sa.Column("node", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("compute_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("resume_requested", sa.Boolean(), nullable=False),
        sa.Column("last_checkpoint_step", sa.Integer(), nullable=False),
        sa.Column("result_model_version_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("created_by_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["base_model_version_id"],
            ["model_version.id"],
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["job_queue.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_job_queue_id"), ["queue_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_job_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_job_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "job_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_job.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_event_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    # dropping a table drops its indexes; MySQL refuses to drop an index a foreign key needs first
    for table in ("job_event", "training_job", "job_queue", "resource_pool"):
        op.drop_table(table)
