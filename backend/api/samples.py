"""/api/samples: the project's sample data, one call each (backend/services/samples.py).

A call that finds the sample already in the tenant answers 200 with ``created: false``; one that
makes it answers 201. Rights are those of the underlying action: the datasets need assets create
rights (a person's role; no key scope grants it), the knowledge base knowledge:write for a key,
the agent agents create rights; the status needs view rights in at least one of those areas."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from backend.api.auth import CurrentPrincipal, RuntimeDep
from backend.api.dependencies import SessionDep
from backend.services import samples

router = APIRouter(prefix="/api", tags=["samples"])


class SampleAgentIn(BaseModel):
    name: str = ""  # default: the template's English name
    slug: str = samples.AGENT_SLUG


def _answer(response: Response, asset: samples.SampleAsset) -> samples.SampleAsset:
    response.status_code = 201 if asset.created else 200
    return asset


@router.get("/samples", response_model=samples.SamplesStatus)
def get_samples(principal: CurrentPrincipal, session: SessionDep) -> samples.SamplesStatus:
    """Which samples the caller's tenant has, and which the caller may create."""
    return samples.samples_status(session, principal)


@router.post("/samples/datasets/{which}", response_model=samples.SampleAsset, status_code=201)
def post_sample_dataset(
    which: str, response: Response, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> samples.SampleAsset:
    """Import dataset ``sample-medical-sft`` (``which=sft``) or ``sample-medical-preference`` (``preference``)."""
    asset = samples.import_sample_dataset(session, principal, rt.objects, which, rt.settings.scratch_dir)
    return _answer(response, asset)


@router.post("/samples/knowledge-base", response_model=samples.SampleAsset, status_code=201)
def post_sample_knowledge_base(
    response: Response, principal: CurrentPrincipal, session: SessionDep, rt: RuntimeDep
) -> samples.SampleAsset:
    """Create knowledge base ``sample-medical-knowledge`` with its 20 documents (ingested in the background)."""
    asset = samples.create_sample_knowledge_base(session, principal, rt.knowledge, rt.objects)
    return _answer(response, asset)


@router.post("/samples/agent", response_model=samples.SampleAsset, status_code=201)
def post_sample_agent(
    response: Response, principal: CurrentPrincipal, session: SessionDep, body: SampleAgentIn | None = None
) -> samples.SampleAsset:
    """Create an agent from the "medical knowledge Q&A with citations" template, wired to the sample knowledge base."""
    body = body or SampleAgentIn()
    asset = samples.create_agent_from_sample_template(session, principal, body.name, body.slug)
    return _answer(response, asset)
