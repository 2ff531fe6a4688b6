"""The Reflex app: theme, pages, the REST API and the lifespan tasks (migration check, controller)."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx

import backend.api
from backend.errors import MedAIError
from backend.runtime import configure_logging, get_runtime
from backend.settings import get_settings
from pages.account import account
from pages.admin import admin
from pages.agent_builder import agent_builder
from pages.agent_chat import agent_chat
from pages.agents import agents_page
from pages.asset_detail import dataset_detail, model_detail
from pages.assets import assets
from pages.auth import login
from pages.home import home
from pages.knowledge import knowledge_page
from pages.knowledge_detail import knowledge_detail
from pages.knowledge_document import knowledge_document
from pages.ops import ops
from pages.orchestration import orchestration
from pages.pipelines import pipelines_page
from pages.playground import playground
from pages.serving import serving
from pages.serving_detail import service_detail
from pages.space import space
from pages.space_detail import workbench_detail
from pages.training import training
from pages.training_job import training_job
from state.account import AccountState
from state.admin import AdminState
from state.agent_builder import AgentBuilderState
from state.agent_chat import AgentChatState
from state.agent_tools import AgentToolsState
from state.agents import AgentsState
from state.api_keys import ApiKeysState
from state.asset_detail import DatasetDetailState, ModelDetailState
from state.assets import AssetsState
from state.audit import AuditState
from state.auth import AuthState
from state.feedback import error_toast
from state.home import HomeState
from state.knowledge import KnowledgeDetailState, KnowledgeState
from state.knowledge_document import KnowledgeDocumentState
from state.legacy_routes import LegacyRouteState
from state.ops import OpsState
from state.ops_alerts import OpsAlertsState
from state.orchestration import OrchestrationState
from state.pipelines import PipelinesState
from state.playground import PlaygroundState
from state.serving import ServingState
from state.serving_detail import ServiceState
from state.space import SpaceState
from state.space_detail import WorkbenchState
from state.training import TrainingState
from state.training_job import JobState

logger = logging.getLogger("medai")
configure_logging(get_settings())


@asynccontextmanager
async def platform_lifespan() -> AsyncIterator[None]:
    """Refuse to serve an unmigrated database; run the controller while the server runs."""
    try:
        async with get_runtime().serving():
            yield
    except MedAIError as error:
        logger.critical("%s %s", error.message, error.remedy)
        raise RuntimeError(f"{error.code.value}: {error.message} {error.remedy}") from None


app = rx.App(
    api_transformer=backend.api.app,
    backend_exception_handler=error_toast,
    head_components=[rx.el.meta(name="description", content="MedAI Studio: medical large-model platform")],
)
app.register_lifespan_task(platform_lifespan)
# Every page but /login starts with the sign-in guard; the page's own loader comes after it.
app.add_page(login, route="/login", title="Sign in · MedAI Studio", on_load=AuthState.open_login)
app.add_page(home, route="/", title="MedAI Studio", on_load=[AuthState.require_sign_in, HomeState.refresh])
app.add_page(
    account,
    route="/account",
    title="Account · MedAI Studio",
    on_load=[AuthState.require_sign_in, AccountState.load, ApiKeysState.load_personal],
)
app.add_page(
    admin,
    route="/admin",
    title="Administration · MedAI Studio",
    on_load=[AuthState.require_sign_in, AdminState.load, ApiKeysState.load_tenant, AuditState.load],
)
app.add_page(
    assets, route="/assets", title="Assets · MedAI Studio", on_load=[AuthState.require_sign_in, AssetsState.load]
)
app.add_page(
    dataset_detail,
    route="/assets/datasets/[dataset_id]",
    title="Dataset · MedAI Studio",
    on_load=[AuthState.require_sign_in, DatasetDetailState.load],
)
app.add_page(
    model_detail,
    route="/assets/models/[model_id]",
    title="Model · MedAI Studio",
    on_load=[AuthState.require_sign_in, ModelDetailState.load],
)
app.add_page(
    training,
    route="/training",
    title="R&D · MedAI Studio",
    on_load=[AuthState.require_sign_in, TrainingState.load],
)
app.add_page(
    training_job,
    route="/training/jobs/[job_id]",
    title="Training job · MedAI Studio",
    on_load=[AuthState.require_sign_in, JobState.load],
)
app.add_page(
    orchestration,
    route="/orchestration",
    title="Orchestration · MedAI Studio",
    on_load=[AuthState.require_sign_in, OrchestrationState.load],
)
app.add_page(
    pipelines_page,
    route="/orchestration/pipelines",
    title="Pipelines · MedAI Studio",
    on_load=[AuthState.require_sign_in, PipelinesState.load],
)
app.add_page(
    serving, route="/serving", title="Deploy · MedAI Studio", on_load=[AuthState.require_sign_in, ServingState.load]
)
app.add_page(
    service_detail,
    route="/serving/[deployment_id]",
    title="Model service · MedAI Studio",
    on_load=[AuthState.require_sign_in, ServiceState.load],
)
app.add_page(
    knowledge_page,
    route="/knowledge",
    title="Knowledge bases · MedAI Studio",
    on_load=[AuthState.require_sign_in, KnowledgeState.load],
)
app.add_page(
    knowledge_detail,
    route="/knowledge/[kb_id]",
    title="Knowledge base · MedAI Studio",
    on_load=[AuthState.require_sign_in, KnowledgeDetailState.load],
)
app.add_page(
    knowledge_document,
    route="/knowledge/[kb_id]/documents/[document_id]",
    title="Document · MedAI Studio",
    on_load=[AuthState.require_sign_in, KnowledgeDocumentState.load],
)
app.add_page(
    playground,
    route="/playground",
    title="Playground · MedAI Studio",
    on_load=[AuthState.require_sign_in, PlaygroundState.load],
)
# agents (issue 8): list, market and tools; the builder; the embeddable web chat
app.add_page(
    agents_page,
    route="/agents",
    title="Agents · MedAI Studio",
    on_load=[AuthState.require_sign_in, AgentsState.load, AgentToolsState.load],
)
app.add_page(
    agent_builder,
    route="/agents/[agent_id]",
    title="Agent builder · MedAI Studio",
    on_load=[AuthState.require_sign_in, AgentBuilderState.load],
)
app.add_page(
    agent_chat,
    route="/agents/[agent_id]/chat",
    title="Chat · MedAI Studio",
    on_load=[AuthState.require_sign_in, AgentChatState.load],
)
app.add_page(
    space, route="/space", title="AI space · MedAI Studio", on_load=[AuthState.require_sign_in, SpaceState.load]
)
app.add_page(
    workbench_detail,
    route="/space/[workbench_id]",
    title="Workbench · MedAI Studio",
    on_load=[AuthState.require_sign_in, WorkbenchState.load],
)
# the addresses areas had before they were renamed forward to the new ones
for old_route in ("/research", "/research/jobs/[job_id]", "/deploy", "/deploy/[deployment_id]"):
    app.add_page(rx.fragment, route=old_route, title="MedAI Studio", on_load=LegacyRouteState.forward)
# operations (issue 9): dashboards, logs, alerts, work orders
app.add_page(
    ops,
    route="/ops",
    title="Operations · MedAI Studio",
    on_load=[AuthState.require_sign_in, OpsState.load, OpsAlertsState.load],
)
