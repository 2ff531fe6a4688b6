"""Models, datasets and container images with their versions, and the lineage between
everything the platform makes (source §2.4 asset management, §5.2 model record)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.models.base import utcnow
from backend.models.identity import new_id


class Dataset(SQLModel, table=True):
    __tablename__ = "dataset"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_dataset_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=1000)
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class DatasetVersion(SQLModel, table=True):
    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_dataset_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    dataset_id: str = Field(foreign_key="dataset.id", index=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    version: int
    filename: str = Field(max_length=255)
    file_type: str = Field(max_length=16)  # jsonl | json | csv | parquet
    shape: str = Field(max_length=16)  # alpaca | sharegpt | preference | text
    object_key: str = Field(max_length=1024)
    size_bytes: int
    sha256: str = Field(max_length=64)
    rows: int
    phi_masked: bool = Field(default=False)
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=16)  # active | retired
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class ModelAsset(SQLModel, table=True):
    """A model and what it is for; its weights live in its versions."""

    __tablename__ = "model_asset"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_model_tenant_name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=1000)
    promoted_version: int | None = Field(default=None)  # the version deployments use unless told otherwise
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class ModelVersion(SQLModel, table=True):
    """Source §5.2's model record: model_id, model_name (on ModelAsset), version, framework,
    train_data_source, parameters, status (pending_deploy / deployed / retired), create_time,
    creator; plus files, format, base model, size, model card and evaluation results."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    model_id: str = Field(foreign_key="model_asset.id", index=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    version: int
    framework: str = Field(max_length=32)  # transformers | pytorch | llama.cpp | onnx | other
    format: str = Field(max_length=32)  # safetensors | pytorch-bin | gguf | onnx | other
    base_model: str = Field(default="", max_length=255)
    train_data_source: str = Field(default="", max_length=1000)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending_deploy", max_length=16)  # pending_deploy | deployed | retired
    source: str = Field(max_length=16)  # upload | archive | path | job
    storage_prefix: str = Field(max_length=1024)
    files: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    size_bytes: int = Field(default=0)
    model_card: str = Field(default="", sa_column=Column(Text, nullable=False))
    eval_results: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class ContainerImage(SQLModel, table=True):
    """An image used for training, serving or workbenches."""

    __tablename__ = "container_image"
    __table_args__ = (UniqueConstraint("tenant_id", "reference", name="uq_image_tenant_reference"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    reference: str = Field(max_length=512)  # registry/repository:tag@digest as entered, normalised
    registry_host: str = Field(max_length=255)
    repository: str = Field(max_length=255)
    tag: str = Field(default="", max_length=128)
    digest: str = Field(default="", max_length=80)
    cuda_version: str = Field(default="", max_length=16)
    framework: str = Field(default="", max_length=64)  # e.g. torch 2.13, vllm 0.12
    purpose: str = Field(max_length=16)  # training | serving | workbench
    status: str = Field(default="active", max_length=16)  # active | retired
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)


class LineageEdge(SQLModel, table=True):
    """``source`` was used to make or run ``target`` (dataset_version → job → model_version →
    deployment → agent). Every area adds its edges through services.lineage."""

    __tablename__ = "lineage_edge"
    __table_args__ = (UniqueConstraint("source_type", "source_id", "target_type", "target_id", name="uq_lineage_edge"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    tenant_id: str = Field(foreign_key="tenant.id", index=True, max_length=32)
    source_type: str = Field(max_length=32)
    source_id: str = Field(max_length=32, index=True)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=32, index=True)
    relation: str = Field(max_length=32)  # trained_on | base_of | deployed_as | uses | runs_on
    created_at: datetime = Field(default_factory=utcnow)
