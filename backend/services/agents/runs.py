"""Running agents: a run of the published version (or a test run of the draft), in a
conversation, streamed as events and stored with its per-node trace; the logs of conversations
and runs; thumbs up/down feedback and annotations.

The run acts as the agent: models and knowledge bases are reached with view-only rights in the
agent's tenant, as its publisher (``models:invoke`` and ``knowledge:read`` only), so a caller who
may invoke the agent gets its grounded answers without read rights on its knowledge bases; the
caller's key and limits are what the model calls count against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from backend.adapters.cache import Cache
from backend.adapters.envelope import KeyRing
from backend.errors import ErrorCode, MedAIError
from backend.models import Agent, AgentConversation, AgentFeedback, AgentRun
from backend.models.base import utcnow
from backend.services.agents import definitions as agents
from backend.services.agents import runtime as agent_runtime
from backend.services.agents.code import CodeLimits
from backend.services.agents.executors import RunContext
from backend.services.agents.llm import ModelAccess
from backend.services.agents.nodes import start_variables
from backend.services.agents.runtime import RunEvent, RunOutcome
from backend.services.agents.variables import as_text
from backend.services.identity import audit
from backend.services.identity.access import Principal, authorize, in_tenant, may
from backend.services.identity.permissions import Action, Area, Role
from backend.services.serving import gateway

if TYPE_CHECKING:
    from backend.runtime import Runtime

CHANNELS = ("api", "openai", "web", "draft")
HISTORY_RUNS = 20
AGENT_SCOPES = frozenset({"models:invoke", "knowledge:read"})


@dataclass(frozen=True)
class AgentDeps:
    """What running an agent needs from the process (see ``deps_from``)."""

    sessions: Callable[[], AbstractContextManager[Session]]
    cache: Cache
    keys: KeyRing
    knowledge: Any  # KnowledgeIndex or None
    limits: gateway.Limits
    code_limits: CodeLimits
    tool_timeout_s: float
    model_timeout_s: float


def deps_from(rt: Runtime) -> AgentDeps:
    s = rt.settings
    return AgentDeps(
        sessions=rt.session,
        cache=rt.cache,
        keys=rt.keys,
        knowledge=getattr(rt, "knowledge", None),
        limits=gateway.Limits(
            s.gateway_key_requests_per_minute, s.gateway_tenant_requests_per_minute, s.gateway_tenant_tokens_per_minute
        ),
        code_limits=CodeLimits(s.agent_code_timeout_s, s.agent_code_memory_mb),
        tool_timeout_s=s.agent_tool_timeout_s,
        model_timeout_s=s.gateway_timeout_s,
    )


@dataclass(frozen=True)
class RunRequest:
    query: str = ""  # the user's message; fills the start node's first variable when it is not given
    inputs: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None  # None starts a new conversation
    draft: bool = False  # run the draft (a test run; needs edit rights) instead of the active version
    channel: str = "api"
    history: list[dict[str, Any]] | None = None  # given history (the /v1 messages) instead of the conversation's


@dataclass
class RunStream:
    """A started run: its ids, the graph it runs, and its events (consume them to run it)."""

    run_id: str
    conversation_id: str
    agent_slug: str
    graph: dict[str, Any]
    events: Iterator[RunEvent]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    conversation_id: str
    answer: str
    citations: list[dict[str, Any]]
    trace: list[dict[str, Any]]
    prompt_tokens: int
    completion_tokens: int


def _acting(agent: Agent, user_id: str) -> Principal:
    return Principal(
        user_id=user_id,
        label=f"agent:{agent.slug}",
        tenant_id=agent.tenant_id,
        role=Role.VIEWER.value,
        scopes=AGENT_SCOPES,
    )


def _conversation(session: Session, principal: Principal, agent: Agent, request: RunRequest) -> AgentConversation:
    if request.conversation_id:
        found = session.get(AgentConversation, request.conversation_id)
        if found is None or found.agent_id != agent.id or found.user_id != principal.user_id:
            raise MedAIError(ErrorCode.NOT_FOUND, "No such conversation with this agent.", "Start a new one.")
        found.updated_at = utcnow()
        session.add(found)
        return found
    conversation = AgentConversation(
        tenant_id=agent.tenant_id,
        agent_id=agent.id,
        title=request.query[:200],
        channel=request.channel if request.channel in CHANNELS else "api",
        user_id=principal.user_id,
        api_key_id=principal.api_key_id,
        started_by=principal.label,
    )
    session.add(conversation)
    session.flush()
    return conversation


def _history(session: Session, conversation_id: str) -> list[dict[str, Any]]:
    runs = session.exec(
        select(AgentRun)
        .where(AgentRun.conversation_id == conversation_id, AgentRun.status == "succeeded")
        .order_by(col(AgentRun.created_at).desc())
        .limit(HISTORY_RUNS)
    ).all()
    turns: list[dict[str, Any]] = []
    for run in reversed(runs):
        turns += [{"role": "user", "content": run.query}, {"role": "assistant", "content": run.answer}]
    return turns


def _start_inputs(graph: dict[str, Any], request: RunRequest) -> tuple[dict[str, Any], str]:
    start = next((n for n in graph.get("nodes") or [] if n.get("type") == "start"), {})
    names = start_variables(start)
    inputs = {k: v for k, v in request.inputs.items() if k in names}
    if names and request.query and names[0] not in inputs:
        inputs[names[0]] = request.query
    query = request.query or (as_text(inputs.get(names[0])) if names else "")
    return inputs, query


def start_run(deps: AgentDeps, principal: Principal, agent_id: str, request: RunRequest) -> RunStream:
    """Check and record a run of the agent now (so refusals come before any event), and return
    its events; consuming them runs it and stores the outcome and the trace."""
    with deps.sessions() as session:
        tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE if request.draft else Action.VIEW)
        agent = agents.visible_agent(session, tenant_id, agent_id, principal)
        if request.draft:
            graph, version_id, acting_user = agents.runnable_graph(agent.mode, agent.graph, agent.chat_config), None, ""
        else:
            version = agents.active_version(session, agent)
            graph, version_id, acting_user = version.graph, version.id, version.published_by_id
        inputs, query = _start_inputs(graph, request)
        conversation = _conversation(session, principal, agent, request)
        history = request.history if request.history is not None else _history(session, conversation.id)
        run = AgentRun(
            tenant_id=agent.tenant_id,
            agent_id=agent.id,
            version_id=version_id,
            conversation_id=conversation.id,
            query=query,
            inputs=inputs,
            user_id=principal.user_id,
            api_key_id=principal.api_key_id,
            started_by=principal.label,
        )
        session.add(run)
        session.flush()
        audit.record_by(session, principal, "agent.run", "agent_run", run.id, tenant_id=agent.tenant_id, agent=agent.id)
        acting = _acting(agent, acting_user or principal.user_id)
        ids = (run.id, conversation.id, agent.slug)
    ctx = RunContext(
        tenant_id=acting.tenant_id or "",
        models=ModelAccess(deps.sessions, deps.cache, deps.limits, acting, principal, deps.model_timeout_s),
        keys=deps.keys,
        knowledge=deps.knowledge,
        code_limits=deps.code_limits,
        tool_timeout_s=deps.tool_timeout_s,
    )
    system = {"query": query, "conversation_id": ids[1]}
    events = _events(deps, ids[0], ids[1], graph, {**inputs, "history": history}, system, ctx)
    return RunStream(ids[0], ids[1], ids[2], graph, events)


def _events(
    deps: AgentDeps,
    run_id: str,
    conversation_id: str,
    graph: dict[str, Any],
    inputs: dict[str, Any],
    system: dict[str, Any],
    ctx: RunContext,
) -> Iterator[RunEvent]:
    final: RunEvent | None = None
    try:
        yield RunEvent("run_started", None, {"run_id": run_id, "conversation_id": conversation_id})
        for event in agent_runtime.execute(graph, inputs, system, ctx):
            if event.type in ("run_finished", "run_failed"):
                final = event
            else:
                yield event
    except GeneratorExit:  # the consumer went away before the end
        _finish(deps, run_id, RunOutcome(status="failed", error="The run was abandoned by its client."), 0.0)
        raise
    except Exception as error:  # not a node's failure (those end in run_failed): keep the run's row true
        _finish(deps, run_id, RunOutcome(status="failed", error=f"The run stopped: {type(error).__name__}"), 0.0)
        raise
    assert final is not None
    outcome: RunOutcome = final.data["outcome"]
    _finish(deps, run_id, outcome, final.data["latency_ms"])
    yield RunEvent(
        final.type,
        final.node_id,
        {
            "run_id": run_id,
            "conversation_id": conversation_id,
            "answer": outcome.answer,
            "citations": outcome.citations,
            "error": outcome.error,
            "code": outcome.error_code,
            "failed_node": outcome.failed_node,
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "trace": outcome.trace,
        },
    )


def _finish(deps: AgentDeps, run_id: str, outcome: RunOutcome, latency_ms: float) -> None:
    with deps.sessions() as session:
        run = session.get(AgentRun, run_id)
        if run is None:
            return
        run.status = "succeeded" if outcome.status == "succeeded" else "failed"
        run.answer, run.citations, run.trace = outcome.answer, outcome.citations, outcome.trace
        run.error, run.failed_node = outcome.error[:2000], outcome.failed_node[:64]
        run.prompt_tokens, run.completion_tokens = outcome.prompt_tokens, outcome.completion_tokens
        run.latency_ms, run.finished_at = latency_ms, utcnow()
        session.add(run)


def run_agent(deps: AgentDeps, principal: Principal, agent_id: str, request: RunRequest) -> RunResult:
    """Run to the end; TASK_FAILED naming the failing node when the run fails (its trace is kept)."""
    stream = start_run(deps, principal, agent_id, request)
    last: RunEvent | None = None
    for event in stream.events:
        last = event
    assert last is not None
    return result_of(last)


def result_of(final: RunEvent) -> RunResult:
    """The RunResult of a run_finished event; the run's error for a run_failed one."""
    data = final.data
    if final.type != "run_finished":
        invalid = data.get("code") == ErrorCode.DATA_INVALID.value  # bad inputs or graph: the caller's to fix
        code = ErrorCode.DATA_INVALID if invalid else ErrorCode.TASK_FAILED
        raise MedAIError(code, data.get("error") or "The run failed.", f"See the trace of run {data['run_id']}.")
    return RunResult(
        data["run_id"],
        data["conversation_id"],
        data["answer"],
        data["citations"],
        data["trace"],
        data["prompt_tokens"],
        data["completion_tokens"],
    )


def run_by_slug(deps: AgentDeps, principal: Principal, slug: str, request: RunRequest) -> RunStream:
    """``start_run`` for the agent clients name as model ``agent:<slug>``."""
    with deps.sessions() as session:
        agent_id = agents.agent_by_slug(session, principal, slug).id
    return start_run(deps, principal, agent_id, request)


# --- logs ------------------------------------------------------------------------------------


def _sees_all_runs(session: Session, principal: Principal, tenant_id: str | None) -> bool:
    """Builders (edit rights) see every run of an agent; other users only their own."""
    return may(session, principal, Area.AGENTS, Action.UPDATE, tenant_id)


def list_conversations(session: Session, principal: Principal, agent_id: str, limit: int = 100) -> list[Any]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    agent = agents.visible_agent(session, tenant_id, agent_id, principal)
    query = select(AgentConversation).where(AgentConversation.agent_id == agent.id)
    if not _sees_all_runs(session, principal, tenant_id):
        query = query.where(AgentConversation.user_id == principal.user_id)
    return list(session.exec(query.order_by(col(AgentConversation.updated_at).desc()).limit(min(limit, 500))))


def list_runs(
    session: Session, principal: Principal, agent_id: str, conversation_id: str | None = None, limit: int = 100
) -> list[AgentRun]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    agent = agents.visible_agent(session, tenant_id, agent_id, principal)
    query = select(AgentRun).where(AgentRun.agent_id == agent.id)
    if conversation_id:
        query = query.where(AgentRun.conversation_id == conversation_id)
    if not _sees_all_runs(session, principal, tenant_id):
        query = query.where(AgentRun.user_id == principal.user_id)
    return list(session.exec(query.order_by(col(AgentRun.created_at).desc()).limit(min(limit, 500))))


def get_run(session: Session, principal: Principal, run_id: str) -> AgentRun:
    """One run with its trace."""
    tenant_id = authorize(session, principal, Area.AGENTS, Action.VIEW)
    run = in_tenant(session, AgentRun, run_id, tenant_id, "run", "Reload the run list.")
    agents.visible_agent(session, tenant_id, run.agent_id, principal)
    if run.user_id != principal.user_id and not _sees_all_runs(session, principal, tenant_id):
        raise MedAIError(ErrorCode.NOT_FOUND, "No such run in this tenant.", "Reload the run list.")
    return run


def give_feedback(
    session: Session, principal: Principal, run_id: str, rating: int, annotation: str | None = None
) -> AgentFeedback:
    """Thumbs up (1), down (-1) or none (0), and an optional annotation; one per person per run."""
    if rating not in (-1, 0, 1):
        raise MedAIError(ErrorCode.DATA_INVALID, "Rating is 1 (up), -1 (down) or 0.", "Send one of them.")
    run = get_run(session, principal, run_id)
    found = session.exec(
        select(AgentFeedback).where(AgentFeedback.run_id == run.id, AgentFeedback.user_id == principal.user_id)
    ).first()
    feedback = found or AgentFeedback(
        tenant_id=run.tenant_id, agent_id=run.agent_id, run_id=run.id, user_id=principal.user_id, by=principal.label
    )
    feedback.rating = rating
    feedback.annotation = annotation[:5000] if annotation is not None else feedback.annotation
    feedback.updated_at = utcnow()
    session.add(feedback)
    session.flush()
    audit.record_by(session, principal, "agent.feedback", "agent_run", run.id, tenant_id=run.tenant_id, rating=rating)
    return feedback


def list_feedback(session: Session, principal: Principal, agent_id: str) -> list[AgentFeedback]:
    tenant_id = authorize(session, principal, Area.AGENTS, Action.UPDATE)
    agent = agents.visible_agent(session, tenant_id, agent_id, principal)
    query = select(AgentFeedback).where(AgentFeedback.agent_id == agent.id)
    return list(session.exec(query.order_by(col(AgentFeedback.updated_at).desc())))
