"""SQLModel tables, one module per domain. Importing this package registers every table
on ``SQLModel.metadata``, which is what Alembic compares migrations against."""

from backend.models.agents import (
    Agent,
    AgentAllowedHost,
    AgentConversation,
    AgentFeedback,
    AgentListing,
    AgentRun,
    AgentTool,
    AgentVersion,
)
from backend.models.assets import ContainerImage, Dataset, DatasetVersion, LineageEdge, ModelAsset, ModelVersion
from backend.models.identity import ApiKey, AuditEvent, Membership, RecoveryCode, Tenant, User, UserSession
from backend.models.knowledge import KnowledgeBase, KnowledgeChunk, KnowledgeDocument, RecallQuery, RecallRun
from backend.models.ops import AlertEvent, AlertRule, AlertSilence, WorkOrder, WorkOrderComment
from backend.models.platform import PlatformSetting
from backend.models.serving import Deployment, Replica, UsageRecord
from backend.models.space import (
    Workbench,
    WorkbenchApproval,
    WorkbenchBudget,
    WorkbenchMember,
    WorkbenchPackage,
    WorkbenchUsage,
)
from backend.models.training import JobEvent, JobQueue, Pipeline, PipelineRun, ResourcePool, TrainingJob

__all__ = [
    "Agent",
    "AgentAllowedHost",
    "AgentConversation",
    "AgentFeedback",
    "AgentListing",
    "AgentRun",
    "AgentTool",
    "AgentVersion",
    "AlertEvent",
    "AlertRule",
    "AlertSilence",
    "ApiKey",
    "AuditEvent",
    "ContainerImage",
    "Dataset",
    "DatasetVersion",
    "Deployment",
    "JobEvent",
    "JobQueue",
    "KnowledgeBase",
    "KnowledgeChunk",
    "KnowledgeDocument",
    "LineageEdge",
    "Membership",
    "ModelAsset",
    "ModelVersion",
    "Pipeline",
    "PipelineRun",
    "PlatformSetting",
    "RecallQuery",
    "RecallRun",
    "RecoveryCode",
    "Replica",
    "ResourcePool",
    "Tenant",
    "TrainingJob",
    "UsageRecord",
    "User",
    "UserSession",
    "WorkOrder",
    "WorkOrderComment",
    "Workbench",
    "WorkbenchApproval",
    "WorkbenchBudget",
    "WorkbenchMember",
    "WorkbenchPackage",
    "WorkbenchUsage",
]
