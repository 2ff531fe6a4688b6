"""SQLModel tables, one module per domain. Importing this package registers every table
on ``SQLModel.metadata``, which is what Alembic compares migrations against."""

from backend.models.assets import ContainerImage, Dataset, DatasetVersion, LineageEdge, ModelAsset, ModelVersion
from backend.models.identity import ApiKey, AuditEvent, Membership, RecoveryCode, Tenant, User, UserSession
from backend.models.platform import PlatformSetting
from backend.models.serving import Deployment, Replica, UsageRecord
from backend.models.training import JobEvent, JobQueue, Pipeline, PipelineRun, ResourcePool, TrainingJob

__all__ = [
    "ApiKey",
    "AuditEvent",
    "ContainerImage",
    "Dataset",
    "DatasetVersion",
    "Deployment",
    "JobEvent",
    "JobQueue",
    "LineageEdge",
    "Membership",
    "ModelAsset",
    "ModelVersion",
    "Pipeline",
    "PipelineRun",
    "PlatformSetting",
    "RecoveryCode",
    "Replica",
    "ResourcePool",
    "Tenant",
    "TrainingJob",
    "UsageRecord",
    "User",
    "UserSession",
]
