"""Sample data written by this project, one click away: a bilingual SFT dataset, a preference
dataset for DPO, a bilingual medical knowledge base and an agent made from the "medical knowledge
Q&A with citations" template (the files are in ``backend/samples``).

Each use case goes through the ordinary one (dataset import, knowledge base creation and
document upload, agent from a template), so the same tenant and permission checks, validation,
storage and audit apply, and adds a ``sample.*`` audit row of its own.

A second click is harmless: when the tenant already has the sample (by its fixed name or slug,
visible to the caller) the use case returns it with ``created=False`` and writes nothing but
that audit row. Contract for the UI and the REST routes::

    import_sample_dataset(session, principal, objects, which, scratch_dir) -> SampleAsset  # which: "sft" | "preference"
    create_sample_knowledge_base(session, principal, index, objects, inline=False) -> SampleAsset
    create_agent_from_sample_template(session, principal, name="", slug=AGENT_SLUG) -> SampleAsset
    samples_status(session, principal) -> SamplesStatus
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, func, select

from backend.adapters.objectstore import ObjectStore
from backend.errors import ErrorCode, MedAIError
from backend.models import Agent, Dataset, DatasetVersion, KnowledgeBase, KnowledgeDocument
from backend.services.agents import definitions as agents
from backend.services.agents import templates as agent_templates
from backend.services.assets import datasets
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, may
from backend.services.identity.permissions import Action, Area
from backend.services.knowledge import bases as knowledge
from backend.services.knowledge import documents as knowledge_documents
from backend.services.knowledge.index import KnowledgeIndex

FOLDER = Path(__file__).resolve().parents[1] / "samples"
KNOWLEDGE_FOLDER = FOLDER / "knowledge"


@dataclass(frozen=True)
class DatasetSample:
    name: str
    filename: str
    description: str


DATASETS: dict[str, DatasetSample] = {
    "sft": DatasetSample(
        "sample-medical-sft",
        "medical_sft.jsonl",
        "Sample: 200 short medical Q&A rows (Alpaca), 100 English + 100 Chinese. Illustrative, not clinical advice.",
    ),
    "preference": DatasetSample(
        "sample-medical-preference",
        "medical_preference.jsonl",
        "Sample: 100 medical preference pairs for DPO, 50 English + 50 Chinese. Illustrative, not clinical advice.",
    ),
}
KNOWLEDGE_BASE = "sample-medical-knowledge"
KNOWLEDGE_DESCRIPTION = (
    "Sample: 20 short medical documents, 10 English + 10 Chinese, six topics in both languages. "
    "Illustrative, not clinical advice. 示例医学知识，仅供演示，不构成诊疗建议。"
)
TEMPLATE_ID = "medical_qa_citations"
AGENT_SLUG = "sample-medical-qa"


@dataclass(frozen=True)
class SampleAsset:
    """What a one-click sample action made, or found already there (``created`` False)."""

    kind: str  # "dataset" | "knowledge_base" | "agent"
    id: str  # the dataset's, knowledge base's or agent's id
    name: str  # the dataset's or knowledge base's name, the agent's slug
    created: bool
    version_id: str = ""  # datasets: the version to train on
    rows: int = 0  # datasets: records in that version
    documents: int = 0  # knowledge bases: documents in it
    knowledge_base_id: str = ""  # agents: the knowledge base its retrieval node uses ("" when none was there)


@dataclass(frozen=True)
class SampleState:
    """One sample in the caller's tenant. What the caller may not see counts as absent."""

    exists: bool
    id: str  # the dataset's, knowledge base's or agent's id; "" when absent
    may_create: bool  # the caller's role (and key scopes) allow the one-click action


@dataclass(frozen=True)
class SamplesStatus:
    sft_dataset: SampleState
    preference_dataset: SampleState
    knowledge_base: SampleState
    agent: SampleState


def _tenant(tenant_id: str | None) -> str:
    if tenant_id is None:
        raise MedAIError(ErrorCode.DATA_INVALID, "Choose a tenant to work in first.", "Pick a tenant in the header.")
    return tenant_id


def _audit(session: Session, principal: Principal, action: str, asset: SampleAsset) -> None:
    audit.record_by(session, principal, action, asset.kind, asset.id, name=asset.name, created=asset.created)


def _dataset_sample(which: str) -> DatasetSample:
    sample = DATASETS.get(which)
    if sample is None:
        raise MedAIError(ErrorCode.NOT_FOUND, f"No sample dataset '{which[:32]}'.", "Use 'sft' or 'preference'.")
    return sample


# finding a sample that is there already ------------------------------------------------------


def _sample_version(session: Session, tenant_id: str, name: str) -> DatasetVersion | None:
    """The newest active version of the tenant's dataset ``name``."""
    query = (
        select(DatasetVersion)
        .join(Dataset, col(Dataset.id) == col(DatasetVersion.dataset_id))
        .where(Dataset.tenant_id == tenant_id, Dataset.name == name, DatasetVersion.status == "active")
        .order_by(col(DatasetVersion.version).desc())
    )
    return session.exec(query).first()


def _sample_knowledge_base(session: Session, tenant_id: str, principal: Principal) -> KnowledgeBase | None:
    found = session.exec(
        select(KnowledgeBase).where(KnowledgeBase.tenant_id == tenant_id, KnowledgeBase.name == KNOWLEDGE_BASE)
    ).first()
    return found if found is not None and knowledge.may_see(found, principal) else None


def _sample_agent(session: Session, tenant_id: str, principal: Principal, slug: str) -> Agent | None:
    found = session.exec(select(Agent).where(Agent.tenant_id == tenant_id, Agent.slug == slug)).first()
    if found is None:
        return None
    try:
        return agents.visible_agent(session, tenant_id, found.id, principal)
    except MedAIError:
        return None  # a private agent of someone else's: creating one under its slug is refused as CONFLICT


def _document_count(session: Session, kb: KnowledgeBase) -> int:
    query = select(func.count()).select_from(KnowledgeDocument).where(KnowledgeDocument.knowledge_base_id == kb.id)
    return int(session.exec(query).one())


# the one-click actions -----------------------------------------------------------------------


def import_sample_dataset(
    session: Session, principal: Principal, objects: ObjectStore, which: str, scratch_dir: Path
) -> SampleAsset:
    """Dataset ``sample-medical-sft`` (``which="sft"``) or ``sample-medical-preference``
    (``which="preference"``) through the ordinary import (validation report, object storage,
    audit); the newest active version when the tenant has it already. NOT_FOUND for another ``which``."""
    tenant_id = _tenant(authorize(session, principal, Area.ASSETS, Action.CREATE))
    sample = _dataset_sample(which)
    row = _sample_version(session, tenant_id, sample.name)
    created = row is None
    if row is None:
        with (FOLDER / sample.filename).open("rb") as stream:
            row = datasets.import_version(
                session,
                objects,
                principal,
                name=sample.name,
                filename=sample.filename,
                stream=stream,
                scratch_dir=scratch_dir,
                description=sample.description,
            )
    asset = SampleAsset("dataset", row.dataset_id, sample.name, created, version_id=row.id, rows=row.rows)
    _audit(session, principal, "sample.import_dataset", asset)
    return asset


def sample_documents() -> list[Path]:
    """The knowledge sample's Markdown files, in name order."""
    return sorted(KNOWLEDGE_FOLDER.glob("*.md"))


def _language(path: Path) -> str:
    return path.suffixes[-2].lstrip(".") if len(path.suffixes) >= 2 else ""


def create_sample_knowledge_base(
    session: Session, principal: Principal, index: KnowledgeIndex, objects: ObjectStore, inline: bool = False
) -> SampleAsset:
    """Knowledge base ``sample-medical-knowledge`` (default embedding model) with the 20 sample
    documents uploaded through the ordinary upload. They are queued, so the click returns at once,
    and the controller ingests them in the background as it does large uploads (``inline=True``:
    ingested now, in this call). The existing knowledge base, unchanged, when the tenant has it."""
    tenant_id = _tenant(authorize(session, principal, Area.KNOWLEDGE, Action.CREATE))
    kb = _sample_knowledge_base(session, tenant_id, principal)
    created = kb is None
    if kb is None:
        spec = knowledge.KnowledgeBaseSpec(name=KNOWLEDGE_BASE, description=KNOWLEDGE_DESCRIPTION)
        kb = knowledge.create_knowledge_base(session, index, principal, spec)
        session.flush()
        for path in sample_documents():
            meta = {"language": _language(path), "topic": path.name.split(".")[0], "source": "medai-sample"}
            knowledge_documents.upload_document(
                session, index, objects, principal, kb.id, path.name, path.read_bytes(), meta, inline
            )
    asset = SampleAsset("knowledge_base", kb.id, kb.name, created, documents=_document_count(session, kb))
    _audit(session, principal, "sample.create_knowledge_base", asset)
    return asset


def create_agent_from_sample_template(
    session: Session, principal: Principal, name: str = "", slug: str = AGENT_SLUG, language: str = "en"
) -> SampleAsset:
    """An agent from the "medical knowledge Q&A with citations" template (model ``starter``), its
    retrieval node on the sample knowledge base when the tenant has it (otherwise left for the
    person to pick), named in ``language`` (zh or en) unless ``name`` is given. The existing agent
    with ``slug`` when there is one."""
    tenant_id = _tenant(authorize(session, principal, Area.AGENTS, Action.CREATE))
    agent = _sample_agent(session, tenant_id, principal, slug)
    created = agent is None
    if agent is None:
        kb = _sample_knowledge_base(session, tenant_id, principal)
        template = next(t for t in agent_templates.list_templates() if t.id == TEMPLATE_ID)
        agent = agents.create_from_template(
            session,
            principal,
            TEMPLATE_ID,
            name.strip() or (template.name_zh if language == "zh" else template.name_en),
            slug,
            knowledge_base_ids=(kb.id,) if kb is not None else (),
        )
    asset = SampleAsset("agent", agent.id, agent.slug, created, knowledge_base_id=_wired_knowledge_base(agent))
    _audit(session, principal, "sample.create_agent", asset)
    return asset


def _wired_knowledge_base(agent: Agent) -> str:
    for node in (agent.graph or {}).get("nodes") or []:
        bases = (node.get("data") or {}).get("knowledge_bases") if node.get("type") == "knowledge" else None
        if bases:
            return str(bases[0])
    return ""


# what is there already -------------------------------------------------------------------------


def samples_status(session: Session, principal: Principal) -> SamplesStatus:
    """Which samples the caller's tenant has, for the pages' empty states; writes nothing.
    Refused (FORBIDDEN) only when the caller may see none of assets, knowledge and agents."""
    areas = (Area.ASSETS, Area.KNOWLEDGE, Area.AGENTS)
    if not any(may(session, principal, area, Action.VIEW) for area in areas):
        authorize(session, principal, Area.ASSETS, Action.VIEW)  # raises FORBIDDEN, audited
    tenant_id = principal.tenant_id or ""

    def state(area: Area, found_id: str | None) -> SampleState:
        seen = found_id if may(session, principal, area, Action.VIEW) else None
        return SampleState(
            seen is not None, seen or "", bool(tenant_id) and may(session, principal, area, Action.CREATE)
        )

    sft, preference = (_sample_version(session, tenant_id, DATASETS[k].name) for k in ("sft", "preference"))
    kb = _sample_knowledge_base(session, tenant_id, principal)
    agent = _sample_agent(session, tenant_id, principal, AGENT_SLUG)
    return SamplesStatus(
        sft_dataset=state(Area.ASSETS, sft.dataset_id if sft else None),
        preference_dataset=state(Area.ASSETS, preference.dataset_id if preference else None),
        knowledge_base=state(Area.KNOWLEDGE, kb.id if kb else None),
        agent=state(Area.AGENTS, agent.id if agent else None),
    )
